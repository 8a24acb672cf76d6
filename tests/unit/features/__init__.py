"""Unit tests of the features service (pure code)."""
