"""Operator tools over a running loop: dead letters, lake maintenance, offsets, latency."""
