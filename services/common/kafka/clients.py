"""Factories for librdkafka clients from settings, and a reachability check with a clear error."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from services.common.config import KafkaSettings
from services.common.errors import ConfigError, TransientError

__all__ = ["make_admin", "make_consumer", "make_probe", "make_producer", "wait_reachable"]


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


def make_probe(kafka: KafkaSettings, group: str, **overrides: Any) -> Consumer:
    """A short-lived consumer that reads metadata, offsets or assigned partitions and never joins
    `group` (nor auto-commits). librdkafka's own log is off: each failure reaches the caller as an
    exception or a timeout, and closing a client whose coordinator connection is still in the SASL
    handshake logs a transport failure that means nothing."""
    conf = kafka.librdkafka() | {"group.id": group, "enable.auto.commit": False, "log_level": 0}
    return Consumer(conf | overrides)


def make_admin(kafka: KafkaSettings) -> AdminClient:
    """An admin client for topic management."""
    return AdminClient(kafka.librdkafka())


def wait_reachable(kafka: KafkaSettings, timeout_s: float = 10.0) -> int:
    """Return the broker count, or raise an error that says what to do: ConfigError when the broker
    refused the credentials or the TLS handshake (retrying cannot help), TransientError when it did
    not answer."""
    refused: list[str] = []

    def on_error(err: KafkaError) -> None:
        if err.code() in _REFUSALS or (err.code() == KafkaError._TRANSPORT and "SSL" in err.str()):
            refused.append(err.str())  # a TLS alert from the broker: no or a bad client certificate

    probe = {"socket.connection.setup.timeout.ms": 3000, "log_level": 0, "error_cb": on_error}
    admin = AdminClient(kafka.librdkafka() | probe)
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception as exc:
        admin.poll(0)  # the error callbacks of the failed attempts
        if refused:
            raise ConfigError(
                f"the broker at {kafka.bootstrap} refused this client ({refused[-1]}): check "
                "KAFKA_SECURITY_PROTOCOL, the KAFKA_SASL_* credentials and the KAFKA_SSL_* certificates"
            ) from None
        hint = (
            "check the cluster and the KAFKA_ security settings"
            if kafka.external
            else "start it with `make up` or `rtloop broker start`"
        )
        raise TransientError(
            f"KAFKA_BOOTSTRAP_SERVERS unreachable at {kafka.bootstrap}: {hint} ({exc})"
        ) from None
    return len(metadata.brokers)


_REFUSALS = {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED}
