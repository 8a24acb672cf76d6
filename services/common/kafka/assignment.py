"""The runner's view of its partitions: what the group assigned, readiness, and lag per partition."""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any

from confluent_kafka import TopicPartition

from services.common.health import HealthState
from services.common.metrics import RunnerMetrics

__all__ = ["Assignment"]


class Assignment:
    """Rebalance callbacks (assign / revoke) and a lag gauge refreshed at most once a second."""

    def __init__(self, service: str, metrics: RunnerMetrics, health: HealthState) -> None:
        self.service, self.metrics, self.health = service, metrics, health
        self.partitions: set[tuple[str, int]] = set()
        self._last_lag = 0.0

    def on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        """Partitions added: the service is ready."""
        self.partitions |= {(p.topic, p.partition) for p in partitions}
        self.health.ready, self.health.detail = True, f"assigned {len(self.partitions)} partitions"

    def on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        """Partitions taken away: their lag series go too."""
        for p in partitions:
            self.partitions.discard((p.topic, p.partition))
            with contextlib.suppress(KeyError), warnings.catch_warnings():
                # importing Feast sets PROMETHEUS_MULTIPROC_DIR, so prometheus_client warns that removal
                # is not implemented in multi-process mode; this registry is in-process and removes
                warnings.filterwarnings("ignore", "Removal of labels", UserWarning)
                self.metrics.lag.remove(self.service, p.topic, str(p.partition))
        self.health.detail = f"assigned {len(self.partitions)} partitions"

    def update_lag(self, consumer: Any) -> None:
        """High watermark − position per assigned partition (cached watermarks: no broker round trip)."""
        now = time.monotonic()
        if now - self._last_lag < 1.0 or not self.partitions:
            return
        self._last_lag = now
        position = getattr(consumer, "position", None)
        watermarks = getattr(consumer, "get_watermark_offsets", None)
        if position is None or watermarks is None:
            return
        parts = [TopicPartition(t, p) for t, p in sorted(self.partitions)]
        for tp in position(parts):
            _low, high = watermarks(tp, cached=True) or (-1, -1)
            if high >= 0 and tp.offset >= 0:
                self.metrics.lag.labels(self.service, tp.topic, str(tp.partition)).set(high - tp.offset)
