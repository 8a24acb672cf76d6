"""The model half of `rtloop demo`: train on the book's week, serve it, and measure quality on the stream."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from services.common.config import KafkaSettings
from services.common.kafka.scan import scan_topic
from services.training.evaluate import Metrics

__all__ = ["TEST_END", "TRAIN_START", "at", "demo_registry", "stream_quality", "window"]

TRAIN_START, TEST_END = (
    date(2018, 7, 25),
    date(2018, 8, 15),
)  # the book's training week … end of its test week


def at(day: date) -> datetime:
    """Midnight UTC of `day`."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def window(table: pa.Table, start: date, end: date) -> pa.Table:
    """The simulated transactions with start <= day < end."""
    times = table.column("tx_datetime").cast(pa.timestamp("us"))
    lo = pa.scalar(at(start).replace(tzinfo=None), pa.timestamp("us"))
    hi = pa.scalar(at(end).replace(tzinfo=None), pa.timestamp("us"))
    return table.filter(pc.and_(pc.greater_equal(times, lo), pc.less(times, hi)))


def stream_quality(
    kafka: KafkaSettings, predictions_topic: str, labels_topic: str, start: date, end: date, known_from: date
) -> tuple[Metrics, list[dict[str, Any]], int]:
    """AUC ROC, AP and CP@100 of the primary predictions on the `predictions` topic for transactions of
    [start, end), joined with their labels; cards with a fraud known since `known_from` (up to t − 8 days)
    left out as in HANDBOOK §3. Also a few predictions to show and how many test transactions had none."""
    from services.training.adapters.kafka_io import load_labels
    from services.training.evaluate import book_test_set, evaluate

    rows: list[tuple[str, float]] = []
    sample: list[dict[str, Any]] = []
    for msg in scan_topic(kafka, predictions_topic):
        p = orjson.loads(msg.value())
        if not p.get("shadow"):
            rows.append((p["tx_id"], p["score"]))
            if len(sample) < 5 or (p["decision"] and len(sample) < 8):
                sample.append(p)
    preds = pd.DataFrame(rows, columns=["tx_id", "score"]).drop_duplicates("tx_id")
    labels = load_labels(kafka, labels_topic, at(known_from), at(end))
    test = labels[
        (labels["event_time"] >= pd.Timestamp(at(start))) & (labels["event_time"] < pd.Timestamp(at(end)))
    ]
    test = book_test_set(test.reset_index(drop=True), labels, known_from, start - timedelta(days=7))
    joined = test.merge(preds, on="tx_id", how="left")
    unscored = int(joined["score"].isna().sum())
    return evaluate(joined.dropna(subset=["score"])), sample, unscored


def demo_registry(lake_root: Path) -> Path:
    """The demo's model registry, next to its lake."""
    return lake_root.parent / "models"
