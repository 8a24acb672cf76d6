"""Shapes of ingest's outputs (pure): Kafka records for clean/DLQ and rows for the Delta tables."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from services.common.kafka.dlq import DLQ_HEADERS
from services.common.usecase.events import EventSpec

__all__ = ["kafka_records", "lake_rows", "now_column"]

SERVICE = "ingest"


def now_column() -> Column:
    """Wall-clock time per row (current_timestamp is fixed for a whole real-time-mode batch)."""
    return F.timestamp_millis(F.expr("cast(reflect('java.lang.System', 'currentTimeMillis') as bigint)"))


def _clean_value(event: EventSpec) -> Column:
    fields = [
        F.date_format(f, "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX").alias(f) if spec.type == "timestamp" else F.col(f)
        for f, spec in event.fields.items()
    ]
    fields += [
        F.date_format(now_column(), "yyyy-MM-dd'T'HH:mm:ss.SSSXXX").alias("ingest_time"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
    ]
    return F.to_json(F.struct(*fields))


def _dlq_headers() -> Column:
    meta = [
        F.lit("IngestRejected"),
        F.col("reason"),
        F.col("message"),
        F.lit(SERVICE),
        F.col("topic"),
        F.col("partition").cast("string"),
        F.col("offset").cast("string"),
    ]
    added = F.array(
        *[
            F.struct(F.lit(name).alias("key"), F.encode(value, "UTF-8").alias("value"))
            for name, value in zip(DLQ_HEADERS, meta, strict=True)
        ]
    )
    original = F.coalesce(F.col("headers"), F.array().cast("array<struct<key:string,value:binary>>"))
    return F.concat(original, added)


def kafka_records(classified: DataFrame, event: EventSpec, clean_topic: str, dlq_topic: str) -> DataFrame:
    """(topic, key, value, headers): valid rows as the declared clean event keyed by the event key,
    rejected rows unchanged (original key and bytes) for the dead-letter topic, with the reason headers.
    A clean value omits an optional field that is absent and has no default."""
    valid = classified.reason.isNull()
    return classified.select(
        F.when(valid, F.lit(clean_topic)).otherwise(F.lit(dlq_topic)).alias("topic"),
        F.when(valid, F.encode(event.key, "UTF-8")).otherwise(F.col("key")).alias("key"),
        F.when(valid, F.encode(_clean_value(event), "UTF-8")).otherwise(F.col("value")).alias("value"),
        F.when(valid, F.col("headers")).otherwise(_dlq_headers()).alias("headers"),
    )


def _event_fields(event: EventSpec) -> list[Column]:
    """The declared fields, the event time's date (the table's partition) right after the event time."""
    out = []
    for f in event.fields:
        out.append(F.col(f))
        if f == event.time:
            out.append(F.to_date(f).alias("event_date"))
    return [
        *out,
        F.current_timestamp().alias("ingest_time"),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
    ]


def _rejected_fields(max_value_bytes: int) -> list[Column]:
    return [
        F.col("reason"),
        F.col("message"),
        F.col("key").alias("raw_key"),
        F.substring("value", 1, max_value_bytes).alias("raw_value"),
        F.coalesce(F.length("value"), F.lit(0)).alias("raw_size"),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.current_timestamp().alias("rejected_at"),
    ]


def lake_rows(classified: DataFrame, event: EventSpec, watermark: str, max_value_bytes: int) -> DataFrame:
    """One stream for the lake query, de-duplicated within the watermark: a valid row keys on its
    event id, a rejected row on its Kafka coordinates (so only a re-read of the same record collapses).
    `kind` says which table a row belongs to; `tx` / `rejected` hold it.

    The watermark runs on the Kafka record timestamp of every row (valid or not), so a copy of an
    event id that arrives within the window after the first is dropped. It must not run on event time:
    rejected rows have none, and mixing their arrival time with replayed history's event times moved
    the watermark years past the history, so every later valid row was silently dropped as late.

    A single projection, with no filter or union, keeps Spark from evaluating the rules twice.
    """
    valid = F.col("reason").isNull()
    coordinates = F.concat_ws(":", F.lit("rejected"), F.col("partition"), F.col("offset"))
    return (
        classified.select(
            F.when(valid, F.lit("valid")).otherwise(F.lit("rejected")).alias("kind"),
            F.when(valid, F.col(event.id)).otherwise(coordinates).alias("dedup_key"),
            F.col("timestamp").alias("dedup_time"),
            F.when(valid, F.struct(*_event_fields(event))).alias("tx"),
            F.when(~valid, F.struct(*_rejected_fields(max_value_bytes))).alias("rejected"),
        )
        .withWatermark("dedup_time", watermark)
        .dropDuplicatesWithinWatermark(["dedup_key"])
    )
