"""The consumer's offsets for the label gate."""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicPartition

__all__ = ["ConsumerOffsets"]


class ConsumerOffsets:
    """Positions of the runner's consumer, and partition ends from the broker."""

    def __init__(self, consumer: Any, timeout_s: float = 10.0) -> None:
        self.consumer, self.timeout_s = consumer, timeout_s

    def position(self, topic: str, partition: int) -> int | None:
        """Where the consumer is (after the batch it handed out); None before its first message."""
        found = self.consumer.position([TopicPartition(topic, partition)])[0].offset
        return None if found is None or found < 0 else int(found)

    def start(self, topic: str, partition: int) -> int:
        """Where the group resumes a partition: its committed offset, or the partition's start."""
        tp = TopicPartition(topic, partition)
        found = self.consumer.committed([tp], timeout=self.timeout_s)[0].offset
        if found is None or found < 0:
            found = self.consumer.get_watermark_offsets(tp, timeout=self.timeout_s)[0]
        return int(found)

    def high(self, topic: str, partition: int, assigned: bool) -> int:
        """The partition's end (its last stable offset for this read_committed consumer): for an
        assigned partition as of the last fetch response, which every fetch brings with the records
        of the other partitions (no round trip); otherwise asked of the broker."""
        tp = TopicPartition(topic, partition)
        if assigned:
            cached = self.consumer.get_watermark_offsets(tp, cached=True)
            if cached is not None and cached[1] >= 0:
                return int(cached[1])
        return int(self.consumer.get_watermark_offsets(tp, timeout=self.timeout_s)[1])
