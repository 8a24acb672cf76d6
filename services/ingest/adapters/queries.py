"""Start ingest's two streaming queries: the low-latency clean path and the lake path."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from services.ingest.adapters.spark import kafka_options
from services.ingest.config import IngestSettings

__all__ = ["start_clean_query", "start_lake_query"]


def start_clean_query(spark: SparkSession, records: DataFrame, settings: IngestSettings) -> StreamingQuery:
    """Kafka → Kafka (clean + DLQ in one sink through the per-row `topic` column).

    Real-time mode when configured (Spark 4.1: stateless queries, Kafka source and sink); pyspark
    4.1 has no `realTime=` keyword yet, so the JVM trigger is set on the writer behind the Python one.
    """
    writer = (
        records.writeStream.format("kafka")
        .options(**kafka_options(settings.kafka))
        .option("kafka.linger.ms", str(settings.clean_linger_ms))
        .option("kafka.acks", "all")
        .option("kafka.enable.idempotence", "true")
        .option("kafka.max.request.size", str(9 * 1024 * 1024))  # oversized originals reach the DLQ
        .option("checkpointLocation", str(settings.checkpoints / "clean"))
        .queryName("ingest-clean")
    )
    if settings.clean_mode == "realtime":
        writer = writer.outputMode("update")
        jvm_trigger = spark._jvm.org.apache.spark.sql.streaming.Trigger.RealTime(  # type: ignore[union-attr]
            settings.realtime_checkpoint_interval
        )
        writer._jwrite = writer._jwrite.trigger(jvm_trigger)
    else:
        writer = writer.trigger(processingTime="0 seconds")
    return writer.start()


def start_lake_query(
    rows: DataFrame, settings: IngestSettings, sink: Callable[[DataFrame, int], None]
) -> StreamingQuery:
    """Micro-batches into Delta through foreachBatch (idempotent per batch id)."""
    return (
        rows.writeStream.foreachBatch(sink)
        .outputMode("append")
        .option("checkpointLocation", str(settings.checkpoints / "lake"))
        .trigger(processingTime=settings.lake_trigger)
        .queryName("ingest-lake")
        .start()
    )
