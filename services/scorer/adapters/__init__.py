"""I/O of the scorer: the online feature lookup, ONNX Runtime sessions, the models topic."""
