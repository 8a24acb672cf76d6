"""Topic end offsets, read from the broker (for the demo and the benchmarks)."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from services.common.config import KafkaSettings

__all__ = ["end_offsets", "total"]


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


def total(offsets: dict[int, int]) -> int:
    """Sum over partitions."""
    return sum(offsets.values())
