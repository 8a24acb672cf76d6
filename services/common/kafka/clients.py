"""Factories for librdkafka clients from settings, and a reachability check with a clear error."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from services.common.config import KafkaSettings
from services.common.errors import TransientError

__all__ = ["make_admin", "make_consumer", "make_producer", "wait_reachable"]


def make_producer(kafka: KafkaSettings, **overrides: Any) -> Producer:
    """An idempotent producer with acks=all: no loss, no reordering, no duplicates on retry."""
    conf = kafka.librdkafka() | {
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 1,
        "compression.type": "lz4",
        "message.max.bytes": 8 * 1024 * 1024,
    }
    return Producer(conf | overrides)


def make_consumer(kafka: KafkaSettings, group_id: str, **overrides: Any) -> Consumer:
    """A consumer that never auto-commits: the runner commits after outputs are durable."""
    conf = kafka.librdkafka() | {
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
    }
    return Consumer(conf | overrides)


def make_admin(kafka: KafkaSettings) -> AdminClient:
    """An admin client for topic management."""
    return AdminClient(kafka.librdkafka())


def wait_reachable(kafka: KafkaSettings, timeout_s: float = 10.0) -> int:
    """Return the broker count, or raise TransientError telling the user how to start Kafka."""
    probe = {"socket.connection.setup.timeout.ms": 3000, "log_level": 0}
    admin = AdminClient(kafka.librdkafka() | probe)
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception as exc:
        hint = (
            "check the cluster and the KAFKA_ security settings"
            if kafka.external
            else "start it with `make up` or `rtloop broker start`"
        )
        raise TransientError(
            f"KAFKA_BOOTSTRAP_SERVERS unreachable at {kafka.bootstrap}: {hint} ({exc})"
        ) from None
    return len(metadata.brokers)
