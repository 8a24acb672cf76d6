"""Follow a (compacted) topic from its start on a helper thread: no group, no commits."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from services.common.config import KafkaSettings
from services.common.kafka.envelope import Headers

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
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p, -2) for p in meta.partitions]  # -2: from the beginning
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in parts}
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
