"""Chaos, SIGKILL matrix on the whole loop (`rtloop up`): one service SIGKILLed 5 times at random points
under a steady replay with 5% of the raw events sent again; the supervisor restarts it each time, and
every event gets exactly one prediction and none is dead-lettered (the monitor: every prediction enters
its label join exactly once). Ingest runs at its default checkpoint interval."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, Producer

from tests.chaos.load import Background, ids_of, raw_ids, tally, up_with_model
from tests.e2e.test_up_down import _transactions
from tests.kafka_helpers import Broker, consume, unique
from tests.supervisor_helpers import Stack
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

EVENTS, RATE, KILLS = 20_000, 100.0, 5


@pytest.mark.parametrize("service", ["features", "ingest", "monitor"])
def test_a_service_killed_5_times_under_load(tmp_path: Path, service: str) -> None:
    def kill(stack: Stack, n: int) -> None:
        os.kill(_healthy_pid(stack, service, restarts=n), signal.SIGKILL)
        if n == KILLS - 1:
            _healthy_pid(stack, service, restarts=KILLS)

    _under_kills(tmp_path, f"{service} SIGKILLed x{KILLS} in rtloop up", kill, monitor=service == "monitor")


def test_rtloop_up_itself_killed_5_times_under_load(tmp_path: Path) -> None:
    """The supervisor SIGKILLed: its services, Redis and Kafka run on unsupervised; `rtloop up` again
    stops those leftovers and starts the stack afresh, which resumes where it committed."""

    def kill(stack: Stack, _n: int) -> None:
        os.kill(int(stack.state()["pid"]), signal.SIGKILL)
        again = stack.rtloop("up")
        assert again.returncode == 0, again.stdout + again.stderr + stack.logs()
        assert "killed" in again.stdout, again.stdout

    _under_kills(tmp_path, f"rtloop up SIGKILLed x{KILLS} and run again", kill)


def _under_kills(
    tmp_path: Path, scenario: str, kill: Callable[[Stack, int], None], monitor: bool = False
) -> None:
    """`rtloop up`, a steady replay with copies, `kill(stack, n)` for n < KILLS at random points, then
    the tally of the predictions (and, `monitor`, of the predictions in the monitor's join)."""
    stack = Stack(tmp_path)
    table = _transactions(EVENTS)
    try:
        kafka = up_with_model(stack, tmp_path / "models")
        stream = build_stream(table).only(labels=False)
        load = threading.Thread(target=replay, args=(kafka, stream, ReplayOptions(rate=RATE)), daemon=True)
        copies = Copies(stack.broker, "transactions.raw", share=0.05)
        load.start()
        copies.start()
        rng = random.Random(11)
        for n in range(KILLS):
            time.sleep(rng.uniform(3, 15))
            kill(stack, n)
        load.join(EVENTS / RATE + 300)
        assert not load.is_alive(), "the replay did not finish"
        copies.stop()
        expected = raw_ids(stack.broker)
        consume(kafka, "predictions", len(expected), 420)
        time.sleep(10)  # anything more would be a duplicate
        answers = [orjson.loads(m.value() or b"") for m in consume(kafka, "predictions", 10**9, timeout_s=10)]
        dead = consume(kafka, "transactions.dlq", 10**9, timeout_s=5)
        joined = _monitor_joined(stack.broker, len(expected)) if monitor else None
    finally:
        down = stack.rtloop("down", timeout_s=240)
    assert down.returncode == 0, down.stdout + down.stderr
    dead_ids = ids_of(dead)
    predicted = [p["tx_id"] for p in answers if not p["shadow"]]
    scenario += f", {EVENTS} events at {RATE:.0f}/s"
    tally(f"{scenario}, {copies.sent} raw copies re-sent", KILLS, expected, predicted, dead_ids)
    if joined is not None:  # the monitor's own output: every prediction entered its label join once
        tally(f"{scenario}: predictions in the monitor's join", KILLS, set(predicted), joined, set())


def _healthy_pid(stack: Stack, name: str, restarts: int, timeout_s: float = 240) -> int:
    """The pid of `name` once the supervisor restarted it `restarts` times and it answers healthy."""
    state = stack.wait_state(
        lambda s: any(
            c["name"] == name and c["restarts"] >= restarts and c["healthy"] for c in s["children"]
        ),
        f"{name} healthy after {restarts} restarts",
        timeout_s,
    )
    return int(next(c["pid"] for c in state["children"] if c["name"] == name))


def _monitor_joined(broker: Broker, predictions: int, timeout_s: float = 180) -> list[str]:
    """The prediction ids the monitor added to its label join, one per time it did: its committed
    changelog records `b/<seq>` list them (tombstones, later, carry none)."""
    deadline = time.monotonic() + timeout_s
    while True:
        ids = []
        for m in consume(broker.kafka, "monitor.state", 10**9, timeout_s=10):
            if (m.key() or b"").startswith(b"b/") and m.value():
                ids += [p[0] for p in orjson.loads(m.value() or b"")["p"]]
        if len(set(ids)) >= predictions or time.monotonic() > deadline:
            return ids
        time.sleep(5)


class Copies(Background):
    """Sends a copy of `share` of the records of `topic` (same key, same value) as they appear: an
    upstream producer's re-delivery."""

    def __init__(self, broker: Broker, topic: str, share: float) -> None:
        super().__init__()
        self.broker, self.topic, self.share = broker, topic, share
        self.sent = 0

    def run(self, stop: threading.Event) -> None:
        conf = self.broker.kafka.librdkafka()
        consumer = Consumer(conf | {"group.id": unique("copies"), "auto.offset.reset": "earliest"})
        producer = Producer(conf | {"linger.ms": 5})
        consumer.subscribe([self.topic])
        rng = random.Random(3)
        try:
            while not stop.is_set():
                for m in consumer.consume(500, 0.5):
                    if m.error() is None and rng.random() < self.share:
                        producer.produce(self.topic, m.value(), m.key())
                        self.sent += 1
                producer.poll(0)
        finally:
            producer.flush(30)
            consumer.close()
