"""Thin wiring from settings to the pure transforms: what each query computes."""

from __future__ import annotations

from pyspark.sql import DataFrame

from services.ingest.config import IngestSettings
from services.ingest.outputs import kafka_records, lake_rows
from services.ingest.transforms import Rules, classify

__all__ = ["clean_path", "lake_path", "rules_from"]


def rules_from(settings: IngestSettings) -> Rules:
    """The cleaning rules' parameters."""
    return Rules(
        max_value_bytes=settings.max_value_bytes,
        max_amount=settings.max_amount,
        max_future_skew_s=settings.max_future_skew_s,
        max_event_age_days=settings.max_event_age_days,
        default_currency=settings.default_currency,
    )


def clean_path(raw: DataFrame, settings: IngestSettings) -> DataFrame:
    """Raw Kafka rows → records for transactions.clean and transactions.dlq."""
    return kafka_records(classify(raw, rules_from(settings)), settings.clean_topic, settings.dlq_topic)


def lake_path(raw: DataFrame, settings: IngestSettings) -> DataFrame:
    """Raw Kafka rows → de-duplicated valid rows and rejected rows for the Delta tables."""
    return lake_rows(
        classify(raw, rules_from(settings)), settings.dedup_watermark, settings.rejected_value_max_bytes
    )
