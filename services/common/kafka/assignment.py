"""The runner's view of its partitions: what the group assigned, readiness, lag, and stalled fetches."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from services.common.health import HealthState
from services.common.kafka.envelope import KafkaMessage
from services.common.metrics import RunnerMetrics

__all__ = ["Assignment"]


# one turn of the loop counts at most this long towards a stall: a loop that waited out an outage in its
# handler did not poll meanwhile, and its partitions are not stalled for that
_TURN_S = 5.0


class Assignment:
    """Rebalance callbacks (assign / revoke), a lag gauge refreshed at most once a second, and a watch
    for partitions that deliver nothing while they have records to read. librdkafka can leave a
    partition's fetcher unstarted after a coordinator change (an OffsetFetch answered NOT_COORDINATOR,
    confluentinc/librdkafka#5586): the consumer stays in the group, holds the partition and never reads
    it, and only a new assignment recovers it. A partition whose committed offset the coordinator does
    not give at all is kept in `unreadable`: a transaction left hanging on the broker holds it (the
    runner says how to abort it)."""

    def __init__(
        self, service: str, metrics: RunnerMetrics, health: HealthState, stall_s: float = 60.0
    ) -> None:
        self.service, self.metrics, self.health = service, metrics, health
        self.stall_s = stall_s
        self._last_lag = 0.0
        self._clock, self._turn = 0.0, time.monotonic()  # the loop's time: capped turns
        # per assigned partition: the loop's time it last delivered
        self._heard: dict[tuple[str, int], float] = {}
        self.unreadable: list[TopicPartition] = []  # of the last stall found: no committed offset given

    def on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        """Partitions added: the service is ready."""
        self._heard |= {(p.topic, p.partition): self._clock for p in partitions}
        self.health.ready, self.health.detail = True, f"assigned {len(self._heard)} partitions"

    def on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        """Partitions taken away: their lag series go too."""
        for p in partitions:
            self._heard.pop((p.topic, p.partition), None)
            with contextlib.suppress(KeyError), warnings.catch_warnings():
                # importing Feast sets PROMETHEUS_MULTIPROC_DIR, so prometheus_client warns that removal
                # is not implemented in multi-process mode; this registry is in-process and removes
                warnings.filterwarnings("ignore", "Removal of labels", UserWarning)
                self.metrics.lag.remove(self.service, p.topic, str(p.partition))
        self.health.detail = f"assigned {len(self._heard)} partitions"

    def update_lag(self, consumer: Any) -> None:
        """High watermark − position per assigned partition (cached watermarks: no broker round trip)."""
        now = time.monotonic()
        if now - self._last_lag < 1.0 or not self._heard:
            return
        self._last_lag = now
        position = getattr(consumer, "position", None)
        watermarks = getattr(consumer, "get_watermark_offsets", None)
        if position is None or watermarks is None:
            return
        parts = [TopicPartition(t, p) for t, p in sorted(self._heard)]
        for tp in position(parts):
            _low, high = watermarks(tp, cached=True) or (-1, -1)
            if high >= 0 and tp.offset >= 0:
                self.metrics.lag.labels(self.service, tp.topic, str(tp.partition)).set(high - tp.offset)

    def stalled(self, consumer: Any, messages: Sequence[KafkaMessage]) -> list[TopicPartition]:
        """Called once per turn of the loop with what it consumed: the assigned partitions that delivered
        nothing for `stall_s` of the loop's time although records are there to read from their position
        (or, before their first record, from the group's committed offset), and those whose committed
        offset cannot be read (also kept in `unreadable`). Each quiet partition is asked about (a broker
        round trip) at most once per `stall_s`."""
        now = time.monotonic()
        self._clock += min(now - self._turn, _TURN_S)
        self._turn = now
        for m in messages:
            key = (m.topic() or "", m.partition() or 0)
            if key in self._heard:  # assigned still (a revoked partition's last messages are not)
                self._heard[key] = self._clock
        quiet = sorted(k for k, heard in self._heard.items() if self._clock - heard >= self.stall_s)
        if not quiet:
            return []
        self._heard |= dict.fromkeys(quiet, self._clock)
        behind, self.unreadable = _unread([TopicPartition(t, p) for t, p in quiet], consumer)
        return behind + self.unreadable


def _unread(
    partitions: list[TopicPartition], consumer: Any
) -> tuple[list[TopicPartition], list[TopicPartition]]:
    """Those of `partitions` with records after the consumer's position (its committed offset when it
    has none yet), and those without a position whose committed offset the group coordinator does not
    give (records there, but where the group stands cannot be read: the offset fetch of a read_committed
    consumer waits for a pending transactional commit). A partition it cannot tell about now (the broker
    does not answer) is left for the next check."""
    try:
        positions = consumer.position(partitions)
    except KafkaException:
        return [], []
    try:
        committed: list[TopicPartition] | None = consumer.committed(partitions, timeout=5.0)
    except KafkaException:
        committed = None
    behind, unreadable = [], []
    for i, (tp, pos) in enumerate(zip(partitions, positions, strict=True)):
        at = pos.offset if pos.offset >= 0 else None if committed is None else committed[i].offset
        if at is not None and at < 0:
            continue  # no position and no commit: the reset policy decides where it starts
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=5.0, cached=False)
        except KafkaException:
            continue
        if at is None:
            if high > low:
                unreadable.append(tp)
        elif high > at:  # librdkafka's position moves past commit markers and aborted records
            behind.append(tp)
    return behind, unreadable
