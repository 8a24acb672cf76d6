"""Prometheus metrics of ingest, read from the streaming queries' progress reports."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["IngestMetrics"]

log = logging.getLogger(__name__)


class IngestMetrics:
    """Rows in, batch durations and rows the de-duplication dropped as late, per query."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rows = Counter("rtloop_ingest_input_rows", "Rows read per query", ["query"], registry=r)
        self.rate = Gauge("rtloop_ingest_rows_per_second", "Processed rows/s", ["query"], registry=r)
        self.duration = Gauge("rtloop_ingest_batch_ms", "Last batch duration", ["query"], registry=r)
        self.late = Counter("rtloop_ingest_late_dropped", "Rows the watermark dropped", registry=r)
        self._seen: dict[str, str] = {}

    def observe(self, queries: dict[str, Any]) -> None:
        """Record each query's newest progress report once."""
        for name, query in queries.items():
            progress = query.lastProgress
            if not progress or self._seen.get(name) == progress.get("batchId", -1).__str__():
                continue
            self._seen[name] = str(progress.get("batchId", -1))
            self.rows.labels(name).inc(progress.get("numInputRows", 0))
            self.rate.labels(name).set(progress.get("processedRowsPerSecond", 0.0) or 0.0)
            self.duration.labels(name).set((progress.get("durationMs") or {}).get("triggerExecution", 0))
            state_ms = 0
            for op in progress.get("stateOperators") or []:
                self.late.inc(op.get("numRowsDroppedByWatermark", 0))
                state_ms += (op.get("allUpdatesTimeMs") or 0) + (op.get("commitTimeMs") or 0)
            if progress.get("numInputRows"):
                durations = progress.get("durationMs") or {}
                log.info(
                    "%s batch %s: %d rows in %d ms (addBatch %d ms, state %d ms), %.0f rows/s",
                    name,
                    progress.get("batchId"),
                    progress["numInputRows"],
                    durations.get("triggerExecution", 0),
                    durations.get("addBatch", 0),
                    state_ms,
                    progress.get("processedRowsPerSecond") or 0.0,
                )
