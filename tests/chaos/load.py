"""The chaos suite's steady load (with copies of some events re-sent) and its one-line tally."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from services.common.config import KafkaSettings
from services.common.errors import ConfigError
from services.tools.config import ToolSettings
from services.tools.runtime.hanging import Hanging, abort_hanging, find_hanging
from services.training.adapters.kafka_io import publish_version
from tests.integration.scorer.test_exactly_once import drained
from tests.kafka_helpers import MODEL_KEY, Broker, consume
from tests.scorer_helpers import ScorerRun, register_model
from tests.supervisor_helpers import Stack

__all__ = [
    "Background",
    "Operator",
    "SteadyLoad",
    "ids_of",
    "is_object",
    "outcome",
    "raw_ids",
    "tally",
    "up_with_model",
]


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
        assert producer.flush(60) == 0

    def wait(self, timeout_s: float = 600) -> None:
        assert self._thread is not None
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the load did not finish"


def outcome(broker: Broker, run: ScorerRun, load: SteadyLoad) -> tuple[set[str], list[str], set[str]]:
    """Once the load is sent and the scorer drained it: the ids sent, the ids of every primary
    prediction (a repeat is a duplicate) and the ids dead-lettered; the scorer is stopped."""
    load.wait()
    drained(broker, run, timeout_s=300)
    preds = [orjson.loads(m.value()) for m in consume(broker.kafka, run.predictions, 10**9, timeout_s=15)]
    dead = {orjson.loads(m.value())["tx_id"] for m in consume(broker.kafka, run.dlq, 10**9, timeout_s=5)}
    run.stop()
    sent = {orjson.loads(value)["tx_id"] for _, value in load.events}
    return sent, [p["tx_id"] for p in preds if not p["shadow"]], dead


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


def up_with_model(stack: Stack, models: Path) -> KafkaSettings:
    """`rtloop up`, then a signed production model published: the stack's Kafka settings."""
    up = stack.rtloop("up")
    assert up.returncode == 0, up.stdout + up.stderr + stack.logs()
    kafka = stack.broker.kafka
    publish_version(kafka, "models", register_model(models, "fraud", "v1"), MODEL_KEY)
    return kafka


class Background:
    """A thread that runs `run(stop)` until `stop()` (subclasses: what to do meanwhile)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, args=(self._stop,), daemon=True)

    def run(self, stop: threading.Event) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 60) -> None:
        self._stop.set()
        self._thread.join(timeout_s)


class Operator(Background):
    """What an operator runs after a broker crash, every 20 s: `rtloop broker hanging --abort`. What it
    aborted is kept (each scenario prints its count)."""

    def __init__(self, settings: ToolSettings, brokers: list[int]) -> None:
        super().__init__()
        self.settings, self.brokers = settings, brokers
        self.aborted: list[Hanging] = []

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(20):
            with contextlib.suppress(ConfigError):  # a broker down right now: next time
                self.aborted += abort_hanging(self.settings, find_hanging(self.settings, self.brokers))


def is_object(value: bytes | None) -> bool:
    """Whether `value` is a JSON object (a dead letter of a corrupted event need not be)."""
    try:
        return isinstance(orjson.loads(value or b""), dict)
    except orjson.JSONDecodeError:
        return False


def ids_of(messages: Iterable[Any]) -> set[str]:
    """The tx_id of each message whose value is a JSON object."""
    return {orjson.loads(m.value() or b"").get("tx_id") for m in messages if is_object(m.value())}


def raw_ids(broker: Broker) -> set[str]:
    """The tx_id of every record on transactions.raw (what a scenario sent, copies included)."""
    return {
        orjson.loads(m.value() or b"")["tx_id"] for m in consume(broker.kafka, "transactions.raw", 10**9, 10)
    }
