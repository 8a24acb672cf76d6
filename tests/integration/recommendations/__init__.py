"""Integration tests of the recommendation use case on the real MovieLens-100K."""
