"""The local runtime: the embedded Kafka broker, a local Redis and the supervisor (the one launcher)."""
