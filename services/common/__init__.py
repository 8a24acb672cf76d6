"""Shared runtime of every rtloop service: settings, contracts, the Kafka runner, health, telemetry."""
