"""Benchmarks (`make bench`): figures on stdout and a final `BENCH {json}` line; never gate CI."""
