"""State topics of a consumer group: created beside its input, read back partition by partition."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic

from services.common.config import KafkaSettings
from services.common.errors import ConfigError
from services.common.kafka.clients import make_admin
from services.common.kafka.scan import watermarks

__all__ = ["ChangelogReader", "create_internal_topics"]

log = logging.getLogger(__name__)


def create_internal_topics(
    kafka: KafkaSettings, like: str, wanted: Mapping[str, Mapping[str, str]], service: str
) -> None:
    """Create the group's internal topics that do not exist yet (like a Kafka Streams application's),
    with as many partitions as the input topic `like` and its replication factor; an existing one with
    fewer partitions than `like` is a ConfigError (its partition i must hold input partition i's state)."""
    admin = make_admin(kafka)
    topics = admin.list_topics(timeout=10).topics
    source = topics.get(like)
    if source is None or not source.partitions:
        raise ConfigError(f"topic {like} not found: run `rtloop topics apply`")
    partitions, replicas = len(source.partitions), len(source.partitions[0].replicas)
    new = [NewTopic(t, partitions, replicas, config=dict(c)) for t, c in wanted.items() if t not in topics]
    for topic, future in admin.create_topics(new).items() if new else ():
        try:
            future.result(30)
            log.info("%s: created %s (%d partitions)", service, topic, partitions)
        except KafkaException as exc:  # another process of the group made it first
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    short = [t for t in wanted if t in topics and len(topics[t].partitions) < partitions]
    if short:
        raise ConfigError(f"{', '.join(short)} need as many partitions as {like}: run `rtloop topics apply`")


class ChangelogReader:
    """Reads one state partition to its end (read_committed). A transaction a dead producer left open
    holds the end back until the broker aborts it (the producer's transaction timeout); the read waits
    for it, so nothing committed is missed."""

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
        """The latest value per key (a compacted topic's view), tombstones dropped."""
        latest: dict[str, bytes] = {}
        for key, value in self.records(topic, partition):
            if value is None:
                latest.pop(key, None)
            else:
                latest[key] = value
        return latest

    def records(self, topic: str, partition: int) -> list[tuple[str, bytes | None]]:
        """Every committed record of the partition, in offset order."""
        records: list[tuple[str, bytes | None]] = []
        tp = TopicPartition(topic, partition)
        low, high = watermarks(self.consumer, topic, partition, timeout_s=self.wait_s)
        if high <= low:
            return records
        self.consumer.assign([TopicPartition(topic, partition, low)])
        started = waited = time.monotonic()
        position = low
        try:
            while position < high:
                # short polls: transaction markers take offsets, so fewer messages than offsets come
                for msg in self.consumer.consume(10_000, 0.05):
                    if msg.error() is None:
                        records.append(((msg.key() or b"").decode(), msg.value()))
                found = self.consumer.position([tp])[0].offset
                if found is not None and found != OFFSET_INVALID:
                    position = max(position, int(found))
                now = time.monotonic()
                if position < high and now - waited > 5:
                    if now - started > self.wait_s:
                        raise TimeoutError(f"{topic}[{partition}] could not be read to offset {high}")
                    waited = now
                    log.info("%s[%d] at %d of %d: an open transaction?", topic, partition, position, high)
        finally:
            self.consumer.unassign()
        return records

    def close(self) -> None:
        """Release the reader's connections."""
        self.consumer.close()
