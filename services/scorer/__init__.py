"""scorer: micro-batches of featurized transactions → one online lookup → ONNX Runtime → predictions."""
