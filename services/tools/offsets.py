"""Topic end offsets and consumer-group lag, read from the broker (for demo, tests and benches)."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from services.common.config import KafkaSettings

__all__ = ["end_offsets", "group_lag", "start_group_at", "total"]


def _probe(kafka: KafkaSettings, group: str = "rtloop-offsets-probe") -> Consumer:
    return Consumer(kafka.librdkafka() | {"group.id": group, "enable.auto.commit": False})


def end_offsets(kafka: KafkaSettings, topic: str) -> dict[int, int]:
    """Partition → high watermark."""
    consumer = _probe(kafka)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        consumer.close()


def group_lag(kafka: KafkaSettings, group: str, topic: str) -> int:
    """Messages of `topic` not yet committed by `group` (uncommitted partitions count from 0)."""
    ends = end_offsets(kafka, topic)
    consumer = _probe(kafka, group)
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
    finally:
        consumer.close()
    done = {tp.partition: max(tp.offset, 0) for tp in committed}
    return sum(end - done.get(p, 0) for p, end in ends.items())


def total(offsets: dict[int, int]) -> int:
    """Sum over partitions."""
    return sum(offsets.values())


def start_group_at(kafka: KafkaSettings, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit `offsets` for a new group so its first consumer starts exactly there."""
    consumer = _probe(kafka, group)
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()
