"""The consumer's offsets for the label gate, and the changelog partitions read back at a restore."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition

from services.common.config import KafkaSettings

__all__ = ["ChangelogReader", "ConsumerOffsets"]

log = logging.getLogger(__name__)


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


class ChangelogReader:
    """Reads one changelog partition to its end: the latest value per key, tombstones dropped. A
    transaction a dead producer left open holds the end back until the broker aborts it (the
    producer's transaction timeout); the read waits for it, so nothing committed is missed."""

    def __init__(self, kafka: KafkaSettings, wait_s: float = 120.0) -> None:
        self.wait_s = wait_s
        self.consumer = Consumer(
            kafka.librdkafka()
            | {
                "group.id": f"rtloop-restore-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.max.bytes": 64 * 1024 * 1024,
            }
        )

    def __call__(self, topic: str, partition: int) -> dict[str, bytes]:
        records: dict[str, bytes] = {}
        tp = TopicPartition(topic, partition)
        low, high = self.consumer.get_watermark_offsets(tp, timeout=10)
        if high <= low:
            return records
        self.consumer.assign([TopicPartition(topic, partition, low)])
        started = waited = time.monotonic()
        position = low
        try:
            while position < high:
                # short polls: transaction markers take offsets, so fewer messages than offsets come
                for msg in self.consumer.consume(10_000, 0.05):
                    if msg.error() is not None:
                        continue
                    key, value = (msg.key() or b"").decode(), msg.value()
                    if value is None:
                        records.pop(key, None)
                    else:
                        records[key] = value
                found = self.consumer.position([tp])[0].offset
                if found is not None and found != OFFSET_INVALID:
                    position = max(position, int(found))
                now = time.monotonic()
                if position < high and now - waited > 5:
                    if now - started > self.wait_s:
                        raise TimeoutError(f"{topic}[{partition}] could not be read to offset {high}")
                    waited = now
                    log.info(
                        "features: %s[%d] at %d of %d: an open transaction?", topic, partition, position, high
                    )
        finally:
            self.consumer.unassign()
        return records

    def close(self) -> None:
        """Release the reader's connections."""
        self.consumer.close()
