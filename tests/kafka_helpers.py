"""Helpers shared by integration and e2e tests: a broker handle, topics, consuming, the echo process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Message
from confluent_kafka.admin import NewTopic

from services.common.config import KafkaSettings
from services.common.kafka.clients import make_admin

__all__ = ["MODEL_KEY", "Broker", "consume", "embedded_broker", "unique"]

ROOT = Path(__file__).resolve().parents[1]
# the model signing key of the test session (MODEL_SIGNING_KEY, set by conftest): models signed with it serve
MODEL_KEY = b"tests-model-signing-key"


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Broker:
    """A running broker: settings for in-process clients, env for child processes."""

    kafka: KafkaSettings
    env: dict[str, str] = field(default_factory=dict)
    replication: int = 1

    def topic(self, prefix: str = "t", partitions: int = 3, **config: str) -> str:
        """Create a fresh topic and return its name."""
        name = unique(prefix)
        conf = {"max.message.bytes": "8388608", **config}
        admin = make_admin(self.kafka)  # must outlive the future
        fut = admin.create_topics([NewTopic(name, partitions, self.replication, config=conf)])
        fut[name].result(30)
        return name

    def process_env(self, **extra: str) -> dict[str, str]:
        """Environment for a service process pointed at this broker."""
        return dict(os.environ) | self.env | {"PYTHONUNBUFFERED": "1"} | extra

    def start_echo(self, log: Path, **env: str) -> subprocess.Popen[bytes]:
        """`python -m services.echo` as a real child process."""
        out = log.open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "services.echo"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.process_env(ECHO_HEALTH_PORT="0", **env),
        )


@contextlib.contextmanager
def embedded_broker(cache: Path, security: str = "plaintext") -> Iterator[Broker]:
    """An embedded broker on free ports in `cache`, stopped at the end; its clients (in-process and
    child processes) connect as `security` (plaintext or sasl_ssl) asks."""
    from services.tools.config import ToolSettings
    from services.tools.runtime.broker import EmbeddedBroker, free_port

    jars = ROOT / ".cache" / "rtloop" / "jars"
    if not any((jars / "kafka").glob("kafka_2.13-*.jar")):
        raise AssertionError(f"no Kafka jars in {jars}/kafka: run `make jars` (the tests never skip)")
    port = free_port()
    settings = ToolSettings(
        cache_dir=cache,
        jars=jars,
        controller_port=free_port(),
        internal_port=free_port(),
        broker_security=security,
        kafka=KafkaSettings(embedded_port=port),
    )
    embedded = EmbeddedBroker(settings)
    embedded.start()
    env = {"RTLOOP_BROKER_PORT": str(port)} | (embedded.tls.environment() if embedded.secure else {})
    try:
        yield Broker(embedded.client, env)
    finally:
        embedded.stop()


def consume(
    kafka: KafkaSettings, topic: str, expected: int, timeout_s: float = 120.0, distinct: bool = False
) -> list[Message]:
    """Read `topic` from the beginning until `expected` messages (with `distinct`, messages of
    `expected` distinct values: an at-least-once output holds duplicates) or the timeout, and return
    them."""
    consumer = Consumer(
        kafka.librdkafka()
        | {
            "group.id": unique("reader"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: list[Message] = []
    values: set[bytes | None] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while (len(values) if distinct else len(found)) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                if msg.error() is None:
                    found.append(msg)
                    if distinct:
                        values.add(msg.value())
                elif msg.error().code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(msg.error())
    finally:
        consumer.close()
    return found


class ServiceProcess:
    """Process control shared by the service runners of the tests (`proc` and `log` are set by them)."""

    proc: subprocess.Popen[bytes] | None
    log: Path
    name = "service"

    def kill(self) -> None:
        """SIGKILL the whole process group (a Python driver and anything it started, e.g. a JVM)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> int:
        """SIGTERM to the main process only (as a container runtime does) and wait for its exit."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def alive(self) -> None:
        """Fail with the log's tail when the process has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-4000:]
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")


def copy_part(broker: Broker, source: str, target: str, start: float, end: float) -> int:
    """Messages [start, end) of every partition of `source` (fractions) to the same partition of
    `target`, keys kept: the replay, held back for a part of it."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    from services.tools.ops.offsets import end_offsets

    consumer = Consumer(broker.kafka.librdkafka() | {"group.id": "copy", "enable.auto.commit": False})
    producer = Producer(broker.kafka.librdkafka() | {"linger.ms": 5})
    copied = 0
    for p, high in end_offsets(broker.kafka, source).items():
        first, last = int(high * start), int(high * end)
        if last <= first:
            continue
        consumer.assign([TopicPartition(source, p, first)])
        while (consumer.position([TopicPartition(source, p)])[0].offset or 0) < last:
            for m in consumer.consume(5000, 1.0):
                if m.error() is None and (m.offset() or 0) < last:
                    producer.produce(target, m.value(), m.key(), partition=p)
                    copied += 1
            producer.poll(0)
    producer.flush(30)
    consumer.close()
    return copied
