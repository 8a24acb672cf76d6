"""Per-hop and end-to-end latency of the loop, from the Kafka timestamps of one event's messages on the
use case's raw, clean, features and predictions topics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
from rich.table import Table

from services.common.config import KafkaSettings
from services.common.kafka.scan import scan_topic
from services.common.usecase import UseCase

__all__ = ["HOPS", "Hop", "hop_latencies", "latency_table", "loop_topics"]

HOPS = ("ingest", "features", "scorer", "end to end")


def loop_topics(declared: UseCase) -> tuple[str, str, str, str]:
    """The topics an event crosses: raw, clean, features, predictions."""
    t = declared.topics
    return (t.raw, t.clean, t.features, t.predictions)


@dataclass(frozen=True)
class Hop:
    """Latency of one hop over the events seen on both of its topics, in milliseconds."""

    name: str
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def _first_times(
    kafka: KafkaSettings, topic: str, ident: str, start: dict[int, int] | None
) -> dict[str, int]:
    """event id → the timestamp (ms) of its first message on `topic` (a redelivery counts from the first)."""
    times: dict[str, int] = {}
    for msg in scan_topic(kafka, topic, idle_timeout_s=3.0, start=start):
        try:
            event_id = orjson.loads(msg.value())[ident]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # a corrupted event: it has no latency
        if isinstance(event_id, str):
            times.setdefault(event_id, msg.timestamp()[1])
    return times


def hop_latencies(
    kafka: KafkaSettings, declared: UseCase, starts: dict[str, dict[int, int]] | None = None
) -> list[Hop]:
    """Each hop's p50 / p99 / max over the events written since `starts` (topic → partition → offset;
    default: the whole topics). Kafka timestamps are the producers' clocks: one machine here."""
    topics = loop_topics(declared)
    times = {t: _first_times(kafka, t, declared.event.id, (starts or {}).get(t)) for t in topics}
    pairs = [(topics[0], topics[1]), (topics[1], topics[2]), (topics[2], topics[3]), (topics[0], topics[3])]
    hops = []
    for name, (src, dst) in zip(HOPS, pairs, strict=True):
        a, b = times[src], times[dst]
        lat = np.array([b[k] - a[k] for k in a.keys() & b.keys()], dtype=np.float64)
        if len(lat) == 0:
            hops.append(Hop(name, 0, float("nan"), float("nan"), float("nan")))
            continue
        p50, p99 = np.percentile(lat, [50, 99])
        hops.append(Hop(name, len(lat), float(p50), float(p99), float(lat.max())))
    return hops


def latency_table(hops: list[Hop], title: str, events: str) -> Table:
    """p50 / p99 / max per hop and end to end, as a table (`events`: what the count counts)."""
    table = Table(title=title)
    for col in ("hop", events, "p50 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="left" if col == "hop" else "right")
    for h in hops:
        table.add_row(h.name, f"{h.count:,}", f"{h.p50_ms:,.0f}", f"{h.p99_ms:,.0f}", f"{h.max_ms:,.0f}")
    return table
