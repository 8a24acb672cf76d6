"""Follow a (compacted) topic from its start on a helper thread: no group, no commits."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from services.common.config import KafkaSettings
from services.common.kafka.envelope import Headers
from services.common.kafka.scan import StopAsking, ask_again

__all__ = ["follow_topic"]


def follow_topic(
    kafka: KafkaSettings,
    topic: str,
    on_message: Callable[[bytes | None, bytes | None, Headers], None],
    stop: threading.Event,
    caught_up: threading.Event,
) -> None:
    """Call `on_message(key, value, headers)` for every committed record of `topic`, from its start,
    until `stop` is set; `caught_up` is set once the end offsets seen at the start are reached."""
    consumer = Consumer(
        kafka.librdkafka()
        | {"group.id": f"rtloop-follow-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
    )
    try:
        start = _partitions_and_ends(consumer, topic, stop)
        if start is None:
            return
        parts, ends = start
        consumer.assign(parts)
        while not stop.is_set():
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                on_message(msg.key(), msg.value(), tuple(msg.headers() or ()))  # type: ignore[arg-type]
            if not caught_up.is_set():
                positions = consumer.position(parts)
                if all(max(p.offset, 0) >= ends[p.partition] for p in positions):
                    caught_up.set()
    finally:
        consumer.close()


def _partitions_and_ends(
    consumer: Consumer, topic: str, stop: threading.Event
) -> tuple[list[TopicPartition], dict[int, int]] | None:
    """The topic's partitions (from the beginning) and their end offsets now; asked again while a broker
    is down or leaves the cluster (its requests fail, with _DESTROY_BROKER among others). None: stopped."""

    def ask() -> tuple[list[TopicPartition], dict[int, int]]:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p, -2) for p in meta.partitions]  # -2: from the beginning
        return parts, {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in parts}

    try:
        return ask_again(ask, None, stop, what=f"{topic}'s end offsets")
    except StopAsking:
        return None
