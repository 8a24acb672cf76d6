"""Unit tests of the recommendation use case: its data, protocol and baselines."""
