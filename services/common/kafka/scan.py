"""Read a whole topic once, from its start to the end offsets seen when the scan begins."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from services.common.config import KafkaSettings
from services.common.kafka.clients import make_probe

__all__ = ["StopAsking", "ask_again", "read_range", "scan_topic", "watermarks"]

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    consumer = make_probe(
        kafka,
        f"rtloop-scan-{uuid.uuid4().hex[:8]}",
        **{"isolation.level": "read_committed", "fetch.max.bytes": 64 * 1024 * 1024},
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
    """The partition's low and high offsets; asked again for `timeout_s` while its partition has no
    leader (a new topic, a node lost) or its broker is down or leaves mid-request."""
    low, high = ask_again(
        lambda: consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10), timeout_s
    )
    return int(low), int(high)


def ask_again(
    call: Callable[[], T], timeout_s: float | None, stop: threading.Event | None = None, what: str = ""
) -> T:
    """`call()`, asked again with a backoff (0.5 s doubling to 10 s) while it fails with an error that
    passes (no leader, a broker down or leaving mid-request) for `timeout_s`, or with None until `stop`
    is set (then StopAsking). A fatal or lasting error is raised; `what` names the call in a warning
    for each new attempt."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    delay = 0.5
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            passing = not error.fatal() and (error.retriable() or error.code() in _ASK_AGAIN)
            if not passing or (deadline is not None and time.monotonic() > deadline):
                raise
            if what:
                log.warning("%s: not answered (%s); asking again", what, error)
        if stop is None:
            time.sleep(delay)
        elif stop.wait(delay):
            raise StopAsking(what)
        delay = min(delay * 2, 10.0)


class StopAsking(Exception):
    """`ask_again` was stopped before an answer came."""


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
