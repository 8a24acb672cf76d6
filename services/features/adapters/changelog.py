"""Faust table changelog records through librdkafka: produced off the event loop, made durable on demand."""

from __future__ import annotations

import threading
import zlib
from typing import Any

import faust
from confluent_kafka import KafkaError

from services.common.kafka.delivery import ProducerLike, flush_all, produce_one

__all__ = ["ChangelogSink", "KeyHashedTable"]


class ChangelogSink:
    """Changelog records go to a librdkafka producer (C, its own threads) instead of Faust's
    pure-Python aiokafka producer, which cost about a quarter of the event loop's time here.

    Faust's commit flushes only its own producer, so an event's offset may move only after
    `durable()` returned: the pipeline and the labels agent call it before they ack events."""

    def __init__(self, producer: ProducerLike) -> None:
        self.producer = producer
        self._failures: list[str] = []
        self._lock = threading.Lock()

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            with self._lock:
                self._failures.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    def send(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        """Queue one record (non-blocking unless librdkafka's queue is full)."""
        error = produce_one(
            self.producer, topic, value=value, key=key, partition=partition, on_delivery=self._on_delivery
        )
        if error is not None:
            with self._lock:
                self._failures.append(f"{topic}[{partition}]: {error}")

    def durable(self, timeout_s: float = 60) -> None:
        """Blocking: return once every record sent so far is acknowledged (acks=all); raise if any
        was refused, so the events behind them are redelivered instead of committed."""
        flush_all(self.producer, timeout_s)
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            raise RuntimeError(
                f"features: {len(failures)} changelog records refused by Kafka, e.g. {failures[:3]}"
            )


class KeyHashedTable(faust.Table[Any, Any]):
    """A memory table whose changelog records go through a `ChangelogSink` when it has one (else
    through Faust's producer, as any table).

    Changelog partition = CRC32(key) mod partitions, computed here: Faust's use_partitioner asks
    the producer, which fails before it has metadata for a changelog topic it just created. The
    records are serialized by the changelog topic exactly as Faust would, so Faust's recovery reads
    them back unchanged."""

    sink: ChangelogSink | None = None

    def partition_for_key(self, key: Any) -> int | None:
        return zlib.crc32(str(key).encode()) % (self.partitions or 1)

    def _send(self, key: Any, value: Any, value_serializer: Any) -> None:
        if self.sink is None:
            raise RuntimeError("features: table changelog sink not set")
        topic = self.changelog_topic
        raw_key, _ = topic.prepare_key(key, self.key_serializer)
        raw_value, _ = topic.prepare_value(value, value_serializer) if value is not None else (None, None)
        partition = self.partition_for_key(key)
        assert partition is not None
        self.sink.send(topic.get_topic_name(), partition, raw_key, raw_value)

    def on_key_set(self, key: Any, value: Any) -> None:
        if self.sink is None:  # Faust's own producer (FEATURES_CHANGELOG_PRODUCER=faust)
            super().on_key_set(key, value)
            return
        self._send(key, value, self.value_serializer)
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        if self.sink is None:
            super().on_key_del(key)
            return
        self._send(key, None, "raw")
        self._sensor_on_del(self, key)
