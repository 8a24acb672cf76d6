"""Prometheus metrics of the features service."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["FeaturesMetrics"]

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class FeaturesMetrics:
    """Events in, duplicates, labels, Delta rows, waiting for the gate and freshness (ingest → online)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.transactions = Counter("rtloop_features_transactions", "Transactions featurized", registry=r)
        self.labels = Counter("rtloop_features_labels", "Labels applied", registry=r)
        self.lake_rows = Counter("rtloop_features_lake_rows", "Rows appended to the Delta tables", registry=r)
        self.duplicates = Counter(
            "rtloop_features_duplicates",
            "Clean events featurized before (same id, within the windows' reach): not emitted again",
            registry=r,
        )
        self.gate_wait = Histogram(
            "rtloop_features_label_wait_seconds",
            "Wait for labels to reach event time",
            buckets=_FAST,
            registry=r,
        )
        self.gate_timeouts = Gauge(
            "rtloop_features_label_wait_timeouts", "Batches that went on without their labels", registry=r
        )
        self.freshness = Histogram(
            "rtloop_features_freshness_seconds", "Ingest time → features online", buckets=_FAST, registry=r
        )
