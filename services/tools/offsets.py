"""Topic end offsets, read from the broker (for the demo and the benchmarks)."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, TopicPartition

from services.common.config import KafkaSettings

__all__ = ["committed_offsets", "end_offsets", "total"]


def _probe(kafka: KafkaSettings) -> Consumer:
    return Consumer(kafka.librdkafka() | {"group.id": "rtloop-offsets-probe", "enable.auto.commit": False})


def end_offsets(kafka: KafkaSettings, topic: str) -> dict[int, int]:
    """Partition → high watermark."""
    consumer = _probe(kafka)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        consumer.close()


def committed_offsets(kafka: KafkaSettings, group: str, topic: str) -> dict[int, int]:
    """Partition → the group's committed offset (0 where it committed none)."""
    consumer = Consumer(kafka.librdkafka() | {"group.id": group, "enable.auto.commit": False})
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
