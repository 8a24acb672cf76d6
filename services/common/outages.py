"""Dependency outages: while a transient error is retried, /readyz says what is down and a gauge shows it."""

from __future__ import annotations

from services.common.errors import dependency_of
from services.common.health import HealthState
from services.common.metrics import RunnerMetrics

__all__ = ["Outages"]


class Outages:
    """One service's view of its dependencies, fed by the retries of its loop."""

    def __init__(self, service: str, metrics: RunnerMetrics, health: HealthState) -> None:
        self.service, self.metrics, self.health = service, metrics, health
        self._down: set[str] = set()

    def waiting(self, stage: str, exc: BaseException) -> None:
        """A transient error is retried: alive, not ready, and the dependency's outage is shown."""
        dependency = dependency_of(exc)
        self.metrics.retries.labels(self.service, stage).inc()
        self.metrics.outage.labels(self.service, dependency).set(1)
        self.health.beat()  # a long outage is no reason for a liveness probe to restart the service
        self.health.outage = f"waiting for {dependency} (retrying): {type(exc).__name__}"
        self._down.add(dependency)

    def recovered(self) -> None:
        """The call went through: whatever was down is back."""
        if not self._down:
            return
        for dependency in self._down:
            self.metrics.outage.labels(self.service, dependency).set(0)
        self._down.clear()
        self.health.outage = None
