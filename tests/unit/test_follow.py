"""Following a topic: a broker that leaves while its end offsets are asked for is asked again."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from services.common.kafka.follow import _partitions_and_ends


class Flaky:
    """A consumer whose first `failures` watermark requests fail with `error`."""

    def __init__(self, error: KafkaError, failures: int) -> None:
        self.error, self.failures, self.asked = error, failures, 0

    def list_topics(self, topic: str, timeout: float) -> Any:
        return SimpleNamespace(topics={topic: SimpleNamespace(partitions={0: None, 1: None})})

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        self.asked += 1
        if self.failures:
            self.failures -= 1
            raise KafkaException(self.error)
        return 0, 10 + tp.partition


def test_a_broker_destroyed_mid_request_is_asked_again() -> None:
    """Seen on a 3-node cluster losing a node: the scorer's model watcher died on _DESTROY_BROKER."""
    consumer = Flaky(KafkaError(KafkaError._DESTROY_BROKER, "Broker handle destroyed"), failures=2)
    found = _partitions_and_ends(consumer, "models", threading.Event())  # type: ignore[arg-type]
    assert found is not None
    parts, ends = found
    assert [(p.partition, p.offset) for p in parts] == [(0, -2), (1, -2)] and ends == {0: 10, 1: 11}


def test_a_fatal_error_is_raised_and_a_stop_ends_the_wait() -> None:
    fatal = Flaky(KafkaError(KafkaError._FATAL, "fatal", fatal=True), failures=1)
    with pytest.raises(KafkaException):
        _partitions_and_ends(fatal, "models", threading.Event())  # type: ignore[arg-type]
    stop = threading.Event()
    stop.set()
    down = Flaky(KafkaError(KafkaError._TRANSPORT, "down"), failures=1)
    assert _partitions_and_ends(down, "models", stop) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code", [KafkaError._DESTROY_BROKER, KafkaError._UNKNOWN_PARTITION, KafkaError._TRANSPORT]
)
def test_a_changelogs_watermarks_are_asked_again_while_a_node_is_lost(code: int) -> None:
    """Seen on the cluster losing a node and on a broker restart: the scorer's restore of its answered ids
    (in the rebalance callback) died on _UNKNOWN_PARTITION and on _TRANSPORT; asked again instead."""
    from services.common.kafka.scan import watermarks

    consumer = Flaky(KafkaError(code, "node lost"), failures=2)
    assert watermarks(consumer, "scorer.seen", 1, timeout_s=10) == (0, 11)  # type: ignore[arg-type]
    assert consumer.asked == 3
