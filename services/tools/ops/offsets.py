"""Topic end offsets, read from the broker (for the demo and the benchmarks)."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from services.common.config import KafkaSettings
from services.common.kafka.clients import make_probe
from services.common.kafka.scan import watermarks

__all__ = ["LagProbe", "MessageCount", "caught_up", "committed_offsets", "end_offsets", "total"]


def _probe(kafka: KafkaSettings, **extra: object) -> Consumer:
    return make_probe(kafka, "rtloop-offsets-probe", **extra)


def end_offsets(kafka: KafkaSettings, topic: str, timeout_s: float = 30.0) -> dict[int, int]:
    """Partition → high watermark (retried while a new topic's partitions have no leader yet)."""
    consumer = _probe(kafka)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: watermarks(consumer, topic, p, timeout_s)[1] for p in parts}
    finally:
        consumer.close()


def committed_offsets(kafka: KafkaSettings, group: str, topic: str) -> dict[int, int]:
    """Partition → the group's committed offset (0 where it committed none)."""
    consumer = make_probe(kafka, group)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        try:
            got = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        except KafkaException:  # the group's coordinator is not there yet (a group that never committed)
            return dict.fromkeys(parts, 0)
        return {tp.partition: max(tp.offset, 0) for tp in got}
    finally:
        consumer.close()


def total(offsets: dict[int, int]) -> int:
    """Sum over partitions."""
    return sum(offsets.values())


def caught_up(kafka: KafkaSettings, group: str, topic: str, timeout_s: float = 10.0) -> bool:
    """Whether `group` has committed everything there is to consume on `topic`. On a topic written in
    transactions the end offset stays one past the commit marker, which no consumer receives: a
    partition counts as done when nothing is left to read from the group's offset."""
    done, ends = committed_offsets(kafka, group, topic), end_offsets(kafka, topic)
    behind = [p for p, end in ends.items() if done.get(p, 0) < end]
    if not behind:
        return True
    consumer = _probe(kafka, **{"enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, done.get(p, 0)) for p in behind])
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(at_end) < len(behind) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is None:
                return False  # a message the group has not committed yet
            if error.code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition() or 0)
        return len(at_end) == len(behind)
    finally:
        consumer.close()


class LagProbe:
    """A group's total lag on a topic, measured like KEDA's Kafka scaler: per partition the high watermark
    minus the committed offset (no commit yet: minus the low watermark, offsetResetPolicy earliest)."""

    def __init__(self, kafka: KafkaSettings, group: str, topic: str) -> None:
        self.topic = topic
        self._consumer = make_probe(kafka, group)

    def partitions(self) -> int:
        """The topic's partition count now."""
        return len(self._consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions)

    def lag(self) -> int:
        """Total lag over the topic's partitions."""
        parts = [TopicPartition(self.topic, p) for p in range(self.partitions())]
        committed = {tp.partition: tp.offset for tp in self._consumer.committed(parts, timeout=10)}
        lag = 0
        for tp in parts:
            low, high = self._consumer.get_watermark_offsets(tp, timeout=10)
            done = committed.get(tp.partition, -1)
            lag += max(high - (done if done >= 0 else low), 0)
        return lag

    def close(self) -> None:
        """Release the client."""
        self._consumer.close()


class MessageCount:
    """The messages on a topic from the given offsets on, counted as they come (read_committed: a topic
    written in transactions has commit markers between them, which its offsets count and this does not)."""

    def __init__(self, kafka: KafkaSettings, topic: str, start: dict[int, int]) -> None:
        self.count = 0
        self._consumer = _probe(kafka, **{"isolation.level": "read_committed"})
        self._consumer.assign([TopicPartition(topic, p, o) for p, o in start.items()])

    def __call__(self) -> int:
        """The count now (reads what came since the last call, a bounded amount at a time)."""
        for _ in range(20):
            messages = self._consumer.consume(10_000, 0.05)
            self.count += sum(1 for m in messages if m.error() is None)
            if not messages:
                break
        return self.count

    def close(self) -> None:
        """Release the client."""
        self._consumer.close()
