"""Scorer integration tests (real broker, Redis)."""
