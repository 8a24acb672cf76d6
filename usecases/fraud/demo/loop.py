"""The model half of `rtloop demo`: train on the book's week, serve it, and measure quality on the stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from services.common.config import KafkaSettings
from services.common.evaluation import Metrics
from services.common.kafka.scan import scan_topic

if TYPE_CHECKING:
    from services.tools.config import ToolSettings
    from services.tools.runtime.supervisor.pool import ScorerPool

__all__ = [
    "TEST_END",
    "TRAIN_START",
    "StreamQuality",
    "at",
    "demo_registry",
    "scorer_pool",
    "stream_quality",
    "window",
]

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


@dataclass(frozen=True)
class StreamQuality:
    """What the predictions topic says about a week: metrics, a few predictions, and checks."""

    metrics: Metrics
    sample: list[dict[str, Any]]
    unscored: int  # accepted transactions of the week without a prediction
    newer_rows: float  # share of predictions whose customer inputs were not their transaction's


def stream_quality(
    kafka: KafkaSettings,
    lake: Path,
    labels_topic: str,
    start: date,
    end: date,
    known_from: date,
    model_name: str | None = None,
) -> StreamQuality:
    """AUC ROC, AP and CP@100 of the primary predictions on `predictions` for the transactions ingest
    accepted in [start, end), joined with their labels; cards with a fraud known since `known_from` (up
    to t − 8 days) left out as in HANDBOOK §3."""
    from deltalake import DeltaTable

    from services.common.evaluation import BUILT_IN, evaluate
    from services.training.adapters.kafka_io import load_labels
    from usecases.fraud.evaluation import METRICS, book_test_set

    rows: list[tuple[str, float, float]] = []
    sample: list[dict[str, Any]] = []
    for msg in scan_topic(kafka, "predictions"):
        p = orjson.loads(msg.value())
        if not p.get("shadow") and model_name in (None, p["model_name"]):
            rows.append((p["tx_id"], p["score"], p["features"]["TX_AMOUNT"]))
            if len(sample) < 5 or (p["decision"] and len(sample) < 8):
                sample.append(p)
    preds = pd.DataFrame(rows, columns=["id", "score", "seen_amount"]).drop_duplicates("id")
    accepted = DeltaTable(str(lake / "transactions")).to_pandas(columns=["tx_id", "amount"])
    fields = ("tx_id", "customer_id", "tx_event_time", "is_fraud")
    labels = load_labels(kafka, labels_topic, fields, at(known_from), at(end))
    week = (labels["event_time"] >= pd.Timestamp(at(start))) & (labels["event_time"] < pd.Timestamp(at(end)))
    test = labels[week].merge(accepted.rename(columns={"tx_id": "id"}), on="id")
    test = book_test_set(test.reset_index(drop=True), labels, known_from, start - timedelta(days=7))
    joined = test.merge(preds, on="id", how="left")
    scored = joined.dropna(subset=["score"])
    newer = float((abs(scored["seen_amount"] - scored["amount"]) > 0.005).mean()) if len(scored) else 0.0
    metrics = evaluate(scored, BUILT_IN | METRICS)
    return StreamQuality(metrics, sample, int(joined["score"].isna().sum()), newer)


def demo_registry(lake_root: Path) -> Path:
    """The demo's model registry, next to its lake."""
    return lake_root.parent / "models"


def scorer_pool(s: ToolSettings, group: str, run_id: str, feast_data: str, log_dir: Path) -> ScorerPool:
    """The demo's scorers: group `group`, scaled on its lag with the numbers of the ScaledObject."""
    from dataclasses import replace

    from services.common.kafka.retry import Backoff
    from services.tools.config import child_environment
    from services.tools.runtime.broker import free_port
    from services.tools.runtime.supervisor.children import ChildSpec
    from services.tools.runtime.supervisor.keda import load_policy
    from services.tools.runtime.supervisor.pool import ScorerPool

    def spec(i: int) -> ChildSpec:
        port = free_port()
        env = child_environment(
            RTLOOP_BROKER_PORT=str(s.kafka.embedded_port),
            SCORER_GROUP_ID=group,
            SCORER_FEAST_DATA=feast_data,
            SCORER_INSTANCE=f"{run_id}-{i}",
            SCORER_HEALTH_PORT=str(port),
        )
        return ChildSpec(f"scorer-{i}", "services.scorer", env, port, log_dir / f"scorer-{i}.log")

    policy = replace(load_policy(s.scaledobject), group=group)
    return ScorerPool(s.kafka, policy, spec, Backoff(s.restart_backoff_s, s.restart_backoff_max_s))
