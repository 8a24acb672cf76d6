"""Produce an EventStream to Kafka with pacing, optional corruption and delivery accounting."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from services.common.config import KafkaSettings
from services.common.kafka.clients import make_producer
from services.tools.ops.pacing import Pacer
from usecases.fraud.replay.corrupt import CORRUPTION_KINDS, corrupt
from usecases.fraud.replay.events import EventStream

__all__ = ["CORRUPTION_HEADER", "ReplayOptions", "ReplayResult", "replay"]

CORRUPTION_HEADER = "rtloop.replay.corruption"
_CHUNK = 20_000


@dataclass(frozen=True)
class ReplayOptions:
    """Where to send and how fast."""

    raw_topic: str = "transactions.raw"
    labels_topic: str = "labels"
    rate: float | None = None
    speed: float | None = None
    corrupt_share: float = 0.0
    corrupt_kinds: tuple[str, ...] = CORRUPTION_KINDS
    seed: int = 0
    as_clean: bool = False  # write CleanTransaction v1 (ingest_time = now) instead of raw: skips ingest


@dataclass
class ReplayResult:
    """Counts of what was produced and acknowledged."""

    transactions: int = 0
    labels: int = 0
    corrupted: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    seconds: float = 0.0

    @property
    def events(self) -> int:
        """Transactions plus labels."""
        return self.transactions + self.labels

    @property
    def rate(self) -> float:
        """Events per second, end to end (including the final flush)."""
        return self.events / self.seconds if self.seconds else 0.0


def _corruption_plan(stream: EventStream, opts: ReplayOptions) -> dict[int, str]:
    if opts.corrupt_share <= 0:
        return {}
    unknown = set(opts.corrupt_kinds) - set(CORRUPTION_KINDS)
    if unknown:
        raise ValueError(f"unknown corruption kinds {sorted(unknown)}; known: {CORRUPTION_KINDS}")
    rng = np.random.default_rng(opts.seed)
    chosen = np.flatnonzero(rng.random(stream.n) < opts.corrupt_share)
    return {int(i): opts.corrupt_kinds[k % len(opts.corrupt_kinds)] for k, i in enumerate(chosen)}


def _as_clean(value: bytes, seq: int) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    tail = f',"currency":"EUR","ingest_time":"{now}","source_partition":0,"source_offset":{seq}}}'
    return value[:-1] + tail.encode()


def replay(
    kafka: KafkaSettings,
    stream: EventStream,
    opts: ReplayOptions,
    progress: Callable[[int], None] = lambda _n: None,
    producer: Any = None,
) -> ReplayResult:
    """Send every event in order; returns counts once all are acknowledged (acks=all)."""
    result = ReplayResult()
    plan = _corruption_plan(stream, opts)
    pacer = Pacer(rate=opts.rate, speed=opts.speed)
    paced = opts.rate is not None or opts.speed is not None
    producer = producer or make_producer(
        kafka,
        **{
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
            "log_level": 3,  # errors only: a fresh broker's "coordinator load in progress" is retried
        },
    )

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            result.failed += 1

    started = time.monotonic()
    produce, poll = producer.produce, producer.poll
    for lo in range(0, len(stream.order), _CHUNK):
        events = stream.order[lo : lo + _CHUNK]
        times = stream.event_time_us(events).tolist() if paced else None
        for i, (is_label, key, encoded) in enumerate(stream.encode(events)):
            value = encoded
            if times is not None and (wait := pacer.delay(lo + i, times[i])) > 0:
                poll(wait)
            headers = None
            if is_label:
                topic = opts.labels_topic
                result.labels += 1
            else:
                topic = opts.raw_topic
                result.transactions += 1
                if opts.as_clean:
                    value = _as_clean(value, int(events[i]))
                kind = plan.get(int(events[i]))
                if kind is not None:
                    value, headers = corrupt(value, kind), [(CORRUPTION_HEADER, kind.encode())]
                    result.corrupted[kind] += 1
            while True:
                try:
                    produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                    break
                except BufferError:
                    poll(0.05)
        poll(0)
        progress(len(events))
    remaining = producer.flush(120)
    result.failed += remaining
    result.seconds = time.monotonic() - started
    return result
