"""Integration tests of the features service (real Kafka, Redis, Delta)."""
