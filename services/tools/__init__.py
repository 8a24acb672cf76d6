"""Operator tools behind the `rtloop` command: broker, topics, schemas, simulator, replay, demo."""
