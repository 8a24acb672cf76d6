"""Unit tests of training: evaluation, gate, export."""
