"""Per-hop and end-to-end latency of the loop, from the Kafka timestamps of one transaction's messages on
transactions.raw, transactions.clean, transactions.features and predictions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from services.common.config import KafkaSettings
from services.common.kafka.scan import scan_topic

__all__ = ["HOPS", "Hop", "hop_latencies"]

TOPICS = ("transactions.raw", "transactions.clean", "transactions.features", "predictions")
HOPS = (
    ("ingest", "transactions.raw", "transactions.clean"),
    ("features", "transactions.clean", "transactions.features"),
    ("scorer", "transactions.features", "predictions"),
    ("end to end", "transactions.raw", "predictions"),
)


@dataclass(frozen=True)
class Hop:
    """Latency of one hop over the transactions seen on both of its topics, in milliseconds."""

    name: str
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def _first_times(kafka: KafkaSettings, topic: str, start: dict[int, int] | None) -> dict[str, int]:
    """tx_id → the timestamp (ms) of its first message on `topic` (a redelivery counts from the first)."""
    times: dict[str, int] = {}
    for msg in scan_topic(kafka, topic, idle_timeout_s=3.0, start=start):
        try:
            tx_id = orjson.loads(msg.value())["tx_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # a corrupted event: it has no latency
        if isinstance(tx_id, str):
            times.setdefault(tx_id, msg.timestamp()[1])
    return times


def hop_latencies(kafka: KafkaSettings, starts: dict[str, dict[int, int]] | None = None) -> list[Hop]:
    """Each hop's p50 / p99 / max over the transactions written since `starts` (topic → partition →
    offset; default: the whole topics). Kafka timestamps are the producers' clocks: one machine here."""
    times = {t: _first_times(kafka, t, (starts or {}).get(t)) for t in TOPICS}
    hops = []
    for name, src, dst in HOPS:
        a, b = times[src], times[dst]
        lat = np.array([b[k] - a[k] for k in a.keys() & b.keys()], dtype=np.float64)
        if len(lat) == 0:
            hops.append(Hop(name, 0, float("nan"), float("nan"), float("nan")))
            continue
        p50, p99 = np.percentile(lat, [50, 99])
        hops.append(Hop(name, len(lat), float(p50), float(p99), float(lat.max())))
    return hops
