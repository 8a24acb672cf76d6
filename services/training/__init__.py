"""Training: point-in-time history → candidate models → evaluation → ONNX → registry → models topic."""
