"""The recommendation use case: MovieLens-100K, its sequential protocol and baselines."""
