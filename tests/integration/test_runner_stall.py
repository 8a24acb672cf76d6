"""A partition that stops delivering while it has records to read (librdkafka#5586: its fetcher never
restarts after a coordinator change) is found by the runner's watch, and a re-subscription reads it
again from the committed offset: every input is answered exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from services.common.kafka import Envelope, Output, Runner, RunnerConfig
from services.common.kafka.clients import make_consumer, make_producer
from tests.integration.test_runner_process import produce
from tests.kafka_helpers import Broker, consume, unique

pytestmark = pytest.mark.integration

OFFSET_INVALID = -1001


@dataclass
class Stalling:
    """A real consumer whose partitions in `stalled` deliver nothing and have no position (as when
    librdkafka never started their fetcher) until the runner unsubscribes."""

    consumer: Consumer
    stalled: set[int] = field(default_factory=set)
    unsubscribed: int = 0

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]:
        got = self.consumer.consume(num_messages=num_messages, timeout=timeout)
        return [m for m in got if m.partition() not in self.stalled]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, OFFSET_INVALID) if tp.partition in self.stalled else tp
            for tp in self.consumer.position(partitions)
        ]

    def unsubscribe(self) -> None:
        self.unsubscribed += 1
        self.stalled.clear()
        self.consumer.unsubscribe()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.consumer, name)


def test_a_stalled_partition_is_read_again_after_a_resubscription(broker: Broker) -> None:
    src, out, dlq = broker.topic("stall-in", 3), broker.topic("stall-out", 3), broker.topic("stall-dlq", 1)
    first, second = [f"a{i}".encode() for i in range(90)], [f"b{i}".encode() for i in range(210)]
    produce(broker, src, first)
    handled: list[bytes] = []
    done = threading.Event()
    consumer = Stalling(make_consumer(broker.kafka, unique("g")))

    def handler(envs: Sequence[Envelope[Any]]) -> list[Output]:
        handled.extend(e.raw for e in envs)
        if len(set(handled)) >= len(first) + len(second):
            done.set()
        return [Output(out, e.raw, key=e.key) for e in envs]

    runner = Runner(
        RunnerConfig(service="stall", dlq_topic=dlq, transactional=True, stall_s=3.0, max_batch_wait_s=0.1),
        consumer=consumer,
        producer=make_producer(broker.kafka, **{"transactional.id": unique("tx")}),
        decoders={src: lambda raw: raw},
        handler=handler,
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert _wait(lambda: len(set(handled)) >= len(first)), "the first messages were not handled"
        consumer.stalled.add(0)  # every partition has a committed offset now; partition 0 stops
        produce(broker, src, second)
        assert done.wait(60), "the stalled partition's records never came"
    finally:
        runner.stop()
        thread.join(30)
    assert consumer.unsubscribed == 1 and runner.metrics.resubscribed._value.get() == 1
    answered = Counter(m.value() for m in consume(broker.kafka, out, 10**6, timeout_s=10))
    assert set(answered) == set(first + second), "an input was lost"
    assert max(answered.values()) == 1, "an input was answered twice"


def _wait(check: Any, timeout_s: float = 30) -> bool:
    done = threading.Event()
    for _ in range(int(timeout_s / 0.2)):
        if check():
            return True
        done.wait(0.2)
    return False
