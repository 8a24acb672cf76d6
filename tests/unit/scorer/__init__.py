"""Unit tests of the scorer core."""
