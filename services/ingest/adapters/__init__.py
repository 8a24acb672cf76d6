"""I/O of ingest: the Spark session, Kafka source and sinks, Delta tables."""
