"""Integration tests of the monitor (real broker)."""
