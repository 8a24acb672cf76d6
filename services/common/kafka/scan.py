"""Read a whole topic once, from its start to the end offsets seen when the scan begins."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from services.common.config import KafkaSettings

__all__ = ["read_range", "scan_topic", "watermarks"]

_ASK_AGAIN = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError._DESTROY_BROKER,  # a broker that left the cluster mid-request (a node lost)
    KafkaError._TRANSPORT,  # the broker went down mid-request (it restarts, or another leads)
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
}


def scan_topic(
    kafka: KafkaSettings,
    topic: str,
    batch: int = 10_000,
    idle_timeout_s: float = 10.0,
    start: dict[int, int] | None = None,
) -> Iterator[Any]:
    """Every committed message of `topic` (confluent_kafka Messages), partition by partition, from the
    offsets in `start` (default: the beginning); joins no consumer group and commits nothing. A partition
    that makes no progress for `idle_timeout_s` (an open transaction) ends there."""
    consumer = Consumer(
        kafka.librdkafka()
        | {
            "group.id": f"rtloop-scan-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.max.bytes": 64 * 1024 * 1024,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            raise LookupError(f"topic {topic!r} does not exist: create it with `rtloop topics apply`")
        for p in sorted(meta.partitions):
            low, high = watermarks(consumer, topic, p)
            low = max(low, (start or {}).get(p, low))
            if high <= low:
                continue
            yield from read_range(consumer, topic, p, low, high, batch=batch, idle_timeout_s=idle_timeout_s)
    finally:
        consumer.close()


def watermarks(consumer: Consumer, topic: str, partition: int, timeout_s: float = 30.0) -> tuple[int, int]:
    """The partition's low and high offsets; retried for `timeout_s` while its partition has no leader (a
    new topic, a node lost) or its broker is down or leaves mid-request."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0]
            if time.monotonic() > deadline or not (error.retriable() or error.code() in _ASK_AGAIN):
                raise
            time.sleep(0.5)


def read_range(
    consumer: Consumer,
    topic: str,
    partition: int,
    low: int,
    high: int,
    *,
    batch: int = 10_000,
    idle_timeout_s: float = 10.0,
) -> Iterator[Any]:
    """The committed messages of one partition in [low, high), read by assigning it to `consumer`;
    ends early when the fetch position makes no progress for `idle_timeout_s` (an open transaction):
    the caller compares `consumer.position` with `high` when it needs the whole range."""
    consumer.assign([TopicPartition(topic, partition, low)])
    position, idle_since = low, time.monotonic()
    while position < high and time.monotonic() - idle_since < idle_timeout_s:
        for msg in consumer.consume(min(batch, high - position), 1.0):
            if msg.error() is None and (msg.offset() or 0) < high:
                yield msg
        # transaction markers take offsets too: follow the fetch position, not the last message
        now = consumer.position([TopicPartition(topic, partition)])[0].offset or 0
        if now > position:
            position, idle_since = now, time.monotonic()
