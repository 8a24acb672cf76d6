"""Prometheus metrics of a service process: consumed, produced, dead-lettered, batches, lag."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["RunnerMetrics"]


class RunnerMetrics:
    """The runner's metrics, in a registry of their own (one per process, or per test)."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r, s = self.registry, service
        self.consumed = Counter("rtloop_consumed", "Messages consumed", ["service", "topic"], registry=r)
        self.produced = Counter(
            "rtloop_produced", "Messages produced and delivered", ["service", "topic"], registry=r
        )
        self.dead_lettered = Counter(
            "rtloop_dead_lettered",
            "Messages sent to the dead-letter topic",
            ["service", "reason"],
            registry=r,
        )
        self.batch_size = Histogram(
            "rtloop_batch_size",
            "Messages per batch",
            ["service"],
            registry=r,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
        ).labels(s)
        self.handler_seconds = Histogram(
            "rtloop_handler_seconds",
            "Handler latency per batch",
            ["service"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        ).labels(s)
        self.retries = Counter(
            "rtloop_transient_retries", "Transient errors retried", ["service", "stage"], registry=r
        )
        self.outage = Gauge(
            "rtloop_dependency_outage",
            "1 while the service waits for a dependency (transient errors being retried), else 0",
            ["service", "dependency"],
            registry=r,
        )
        self.lag = Gauge(
            "rtloop_consumer_lag",
            "Consumer lag (high watermark - position)",
            ["service", "topic", "partition"],
            registry=r,
        )
        self.resubscribed = Counter(
            "rtloop_consumer_resubscribed",
            "Re-subscriptions after a partition with records to read delivered nothing (a stalled fetch)",
            ["service"],
            registry=r,
        ).labels(s)
        self.service = s

    def count_consumed(self, topic: str, n: int) -> None:
        """Add n consumed messages of `topic`."""
        self.consumed.labels(self.service, topic).inc(n)
