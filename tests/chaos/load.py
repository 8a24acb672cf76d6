"""The chaos suite's steady load (with copies of some events re-sent) and its one-line tally."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Producer

from tests.kafka_helpers import Broker

__all__ = ["SteadyLoad", "tally"]


@dataclass
class SteadyLoad:
    """Produces `events` to `topic` at `rate` per second on a thread, with a copy of `resend` of them
    sent again a little later (an upstream re-delivery: same key, same value)."""

    broker: Broker
    topic: str
    events: list[tuple[bytes, bytes]]
    rate: float
    resend: float = 0.05
    seed: int = 0
    sent: int = 0
    _thread: threading.Thread | None = field(default=None, repr=False)

    def order(self) -> list[tuple[bytes, bytes]]:
        """The events in order, each chosen copy inserted 50-5,000 positions after its original."""
        rng = random.Random(self.seed)
        out = list(self.events)
        for i in sorted(
            rng.sample(range(len(self.events)), int(len(self.events) * self.resend)), reverse=True
        ):
            out.insert(min(len(out), i + rng.randint(50, 5000)), self.events[i])
        return out

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        producer = Producer(
            self.broker.kafka.librdkafka() | {"linger.ms": 5, "acks": "all", "enable.idempotence": True}
        )
        started = time.monotonic()
        for i, (key, value) in enumerate(self.order()):
            ahead = started + i / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            producer.produce(self.topic, value=value, key=key)
            producer.poll(0)
            self.sent = i + 1
        assert producer.flush(60) == 0

    def wait(self, timeout_s: float = 600) -> None:
        assert self._thread is not None
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the load did not finish"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def tally(
    scenario: str,
    faults: int,
    expected: set[str],
    answers: list[str],
    dead: set[str],
    say: Callable[[str], None] = print,
) -> None:
    """Print the scenario's line and fail unless nothing valid was lost, answered twice or dead-lettered."""
    per_id = Counter(answers)
    lost = len(expected - set(per_id))
    duplicated = sum(1 for n in per_id.values() if n > 1)
    dead_valid = len(dead & expected)
    say(
        f"CHAOS {scenario}: faults {faults}, events {len(expected)}, lost {lost}, "
        f"duplicated {duplicated}, valid dead-lettered {dead_valid}"
    )
    assert (lost, duplicated, dead_valid) == (0, 0, 0), scenario
