"""Thin wiring from settings to the pure transforms: what each query computes."""

from __future__ import annotations

from pyspark.sql import DataFrame

from services.ingest.config import IngestSettings
from services.ingest.outputs import kafka_records, lake_rows
from services.ingest.transforms import Rules, classify

__all__ = ["clean_path", "lake_path", "rules_from"]


def rules_from(settings: IngestSettings) -> Rules:
    """The declared event's fields and the cleaning limits (each a setting, defaulting to the declaration)."""
    return Rules(
        settings.declaration.event,
        max_value_bytes=settings.max_value_bytes,
        max_future_skew_s=settings.max_future_skew_s,
        max_event_age_days=settings.max_event_age_days,
    )


def clean_path(raw: DataFrame, settings: IngestSettings) -> DataFrame:
    """Raw Kafka rows → records for the clean topic and the dead-letter topic."""
    rules = rules_from(settings)
    return kafka_records(classify(raw, rules), rules.event, settings.clean_topic, settings.dlq_topic)


def lake_path(raw: DataFrame, settings: IngestSettings) -> DataFrame:
    """Raw Kafka rows → de-duplicated valid rows and rejected rows for the Delta tables."""
    rules = rules_from(settings)
    return lake_rows(
        classify(raw, rules), rules.event, settings.dedup_watermark, settings.rejected_value_max_bytes
    )
