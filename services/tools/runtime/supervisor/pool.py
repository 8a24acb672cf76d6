"""Scorer processes scaled on their group's measured lag with KEDA's arithmetic (`rtloop up` and the demo)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from services.common.config import KafkaSettings
from services.common.kafka.retry import Backoff
from services.tools.ops.offsets import LagProbe
from services.tools.runtime.supervisor.children import Child, ChildSpec
from services.tools.runtime.supervisor.keda import Autoscaler, Poll, ScalingPolicy

__all__ = ["ScorerPool"]

log = logging.getLogger("rtloop.supervisor")
POLLS_KEPT = 2000


class ScorerPool:
    """Instance i runs `spec_of(i)`; `poll()` measures the lag and starts or stops the highest instances."""

    def __init__(
        self,
        kafka: KafkaSettings,
        policy: ScalingPolicy,
        spec_of: Callable[[int], ChildSpec],
        backoff: Backoff,
        stop_timeout_s: float = 60.0,
    ) -> None:
        self.policy, self.spec_of, self.backoff, self.stop_timeout_s = (
            policy,
            spec_of,
            backoff,
            stop_timeout_s,
        )
        self.probe = LagProbe(kafka, policy.group, policy.topic)
        self.partitions = self.probe.partitions()
        self.autoscaler = Autoscaler(policy, self.partitions, initial=max(policy.min_replicas, 1))
        self.children: list[Child] = []
        self.retiring: list[tuple[Child, float]] = []
        self.polls: list[Poll] = []

    def start(self) -> None:
        """Start the initial replicas."""
        self._resize(self.autoscaler.replicas)

    def _resize(self, replicas: int) -> None:
        while len(self.children) < replicas:
            child = Child(self.spec_of(len(self.children)), backoff=self.backoff)
            child.start()
            self.children.append(child)
        while len(self.children) > replicas:
            child = self.children.pop()
            child.terminate()
            self.retiring.append((child, time.monotonic() + self.stop_timeout_s))

    def poll(self) -> Poll | None:
        """One KEDA poll: measure the lag, set the replicas (None: the lag could not be measured)."""
        try:
            lag = self.probe.lag()
        except Exception as exc:  # the broker is busy: skip this poll, as KEDA would
            log.warning("lag not measured (%s); keeping %d scorers", exc, len(self.children))
            return None
        poll = self.autoscaler.poll(time.time(), lag)
        self.polls = [*self.polls[-POLLS_KEPT:], poll]
        if poll.replicas != len(self.children):
            log.info("lag %d → %d scorer replicas (desired %d)", lag, poll.replicas, poll.desired)
            self._resize(poll.replicas)
        return poll

    def retire(self, now: float) -> None:
        """Forget the stopped instances (SIGKILL those past their grace)."""
        self.retiring = [(c, d) for c, d in self.retiring if not c.finished(now, d)]

    def run(self, stop: threading.Event) -> None:
        """Start (unless started), then restart crashed instances and poll every pollingInterval until
        `stop`."""
        if not self.children:
            self.start()
        next_poll = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            for child in self.children:
                if (what := child.check(now)) is not None:
                    log.warning("%s", what)
            if now >= next_poll:
                next_poll = now + self.policy.polling_s
                self.poll()
            self.retire(now)
            stop.wait(0.25)

    def stop_all(self, deadline: float) -> None:
        """SIGTERM every instance, wait until `deadline` (then SIGKILL), close the lag probe."""
        everyone = [*self.children, *(c for c, _ in self.retiring)]
        for child in everyone:
            child.terminate()
        for child in everyone:
            child.wait_stopped(deadline)
        self.children, self.retiring = [], []
        self.probe.close()
