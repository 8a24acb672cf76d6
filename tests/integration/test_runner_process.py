"""The shared runner in a real service process (echo) against the real broker."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from services.common.kafka.envelope import header
from tests.factories import tx
from tests.kafka_helpers import Broker, consume, unique
from usecases.fraud.replay import CORRUPTION_KINDS, corrupt

pytestmark = pytest.mark.integration


def produce(broker: Broker, topic: str, values: list[bytes], **kw: object) -> None:
    producer = Producer(broker.kafka.librdkafka() | {"linger.ms": 10, "message.max.bytes": 8 << 20})
    for i, value in enumerate(values):
        while True:
            try:
                producer.produce(topic, value, str(i % 97).encode(), **kw)  # type: ignore[arg-type]
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0


def committed(broker: Broker, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets; retried while a fresh broker is still electing the group's
    coordinator (NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS)."""
    retriable = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS}
    deadline = time.monotonic() + 30
    while True:
        consumer = Consumer(broker.kafka.librdkafka() | {"group.id": group})
        try:
            got = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
            return {tp.partition: tp.offset for tp in got}
        except KafkaException as exc:
            if exc.args[0].code() not in retriable or time.monotonic() > deadline:
                raise
        finally:
            consumer.close()
        time.sleep(0.5)


def wait_for(predicate, timeout_s: float, what: str, proc=None, log: Path | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = log.read_text()[-3000:] if log else ""
            pytest.fail(f"service exited with {proc.returncode} while waiting for {what}:\n{text}")
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


def echo_env(broker: Broker, src: str, out: str, dlq: str, group: str) -> dict[str, str]:
    return {"ECHO_INPUT_TOPIC": src, "ECHO_OUTPUT_TOPIC": out, "ECHO_DLQ_TOPIC": dlq, "ECHO_GROUP_ID": group}


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_every_kind_of_bad_message_is_dead_lettered_and_the_service_keeps_running(
    broker: Broker, logs: Path
) -> None:
    src, out, dlq = broker.topic("raw"), broker.topic("out"), broker.topic("dlq")
    good = [tx(i) for i in range(20)]
    bad = [corrupt(tx(100 + k), kind) for k, kind in enumerate(CORRUPTION_KINDS)]
    log = logs / "echo.log"
    proc = broker.start_echo(log, **echo_env(broker, src, out, dlq, unique("g")))
    try:
        produce(broker, src, good[:10] + bad + good[10:])
        dead = consume(broker.kafka, dlq, len(bad), timeout_s=60)
        echoed = consume(broker.kafka, out, len(good), timeout_s=60)
        assert proc.poll() is None, "the service stopped on bad input"
        reasons = {header(m.headers(), "rtloop.error.reason") for m in dead}
        assert reasons == {b"malformed_json", b"not_utf8", b"invalid", b"empty_value", b"too_large"}
        for m in dead:
            assert header(m.headers(), "rtloop.service") == b"echo"
            assert header(m.headers(), "rtloop.source.topic") == src.encode()
            assert header(m.headers(), "rtloop.error.message")
            assert header(m.headers(), "rtloop.error.class") == b"DecodeError"
        assert {m.value() for m in dead} == set(bad), "the DLQ must keep the original bytes"
        assert sorted(m.value() for m in echoed) == sorted(good)
        produce(broker, src, [tx(999)])
        assert [m.value() for m in consume(broker.kafka, out, 21, timeout_s=60)].count(tx(999)) == 1
    finally:
        stop(proc)


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing_and_offsets_never_run_ahead(broker: Broker, logs: Path) -> None:
    total = 50_000
    src, out, dlq = broker.topic("raw", 6), broker.topic("out", 6), broker.topic("dlq")
    group = unique("g")
    produce(broker, src, [tx(i) for i in range(total)])
    env = echo_env(broker, src, out, dlq, group) | {"ECHO_MAX_BATCH_SIZE": "200"}
    log = logs / "echo.log"
    proc = broker.start_echo(log, **env)
    wait_for(
        lambda: sum(max(o, 0) for o in committed(broker, group, src, 6).values()) > 5_000,
        90,
        "a first part to be committed",
        proc,
        log,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    at_kill = committed(broker, group, src, 6)
    assert 0 < sum(max(o, 0) for o in at_kill.values()) < total, "the kill did not land mid-stream"
    so_far = {m.value() for m in consume(broker.kafka, out, total, timeout_s=10)}
    inputs = consume(broker.kafka, src, total, timeout_s=60)
    ahead = [m.offset() for m in inputs if m.offset() < at_kill[m.partition()] and m.value() not in so_far]
    assert ahead == [], f"{len(ahead)} inputs were committed before their output was durable"
    proc = broker.start_echo(log, **env)
    try:
        # the restart re-processes what was not committed: count distinct outputs, not messages
        echoed = consume(broker.kafka, out, total, timeout_s=180, distinct=True)
        assert {m.value() for m in echoed} == {tx(i) for i in range(total)}
    finally:
        stop(proc)


def test_sigterm_finishes_the_batch_commits_and_exits_promptly(broker: Broker, logs: Path) -> None:
    src, out, dlq = broker.topic("raw"), broker.topic("out"), broker.topic("dlq")
    group = unique("g")
    produce(broker, src, [tx(i) for i in range(3000)])
    log = logs / "echo.log"
    proc = broker.start_echo(log, **echo_env(broker, src, out, dlq, group))
    try:
        consume(broker.kafka, out, 3000, timeout_s=60)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert time.monotonic() - started < 10
        offsets = committed(broker, group, src, 3)
        consumer = Consumer(broker.kafka.librdkafka() | {"group.id": unique("probe")})
        ends = {p: consumer.get_watermark_offsets(TopicPartition(src, p), timeout=10)[1] for p in range(3)}
        consumer.close()
        assert offsets == ends, "a graceful stop must leave nothing uncommitted"
        assert "closed" in log.read_text()
    finally:
        stop(proc)


def test_traceparent_is_continued_and_health_endpoints_answer(broker: Broker, logs: Path) -> None:
    src, out, dlq = broker.topic("raw"), broker.topic("out"), broker.topic("dlq")
    log = logs / "echo.log"
    proc = broker.start_echo(log, **echo_env(broker, src, out, dlq, unique("g")), ECHO_LOG_LEVEL="INFO")
    try:
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        parent = f"00-{trace_id}-00f067aa0ba902b7-01".encode()
        produce(broker, src, [tx(1)], headers=[("traceparent", parent)])
        (msg,) = consume(broker.kafka, out, 1, timeout_s=60)
        got = header(msg.headers(), "traceparent")
        assert got is not None and got.decode().split("-")[1] == trace_id
        port = int(
            wait_for(
                lambda: re.search(r"http://127\.0\.0\.1:(\d+)", log.read_text()),
                20,
                "the health port in the log",
                proc,
                log,
            ).group(1)
        )
        base = f"http://127.0.0.1:{port}"
        assert urllib.request.urlopen(base + "/healthz", timeout=5).status == 200
        assert urllib.request.urlopen(base + "/readyz", timeout=5).status == 200
        metrics = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
        assert f'rtloop_consumed_total{{service="echo",topic="{src}"}} 1.0' in metrics
        assert "rtloop_handler_seconds_bucket" in metrics
        assert "rtloop_consumer_lag" in metrics
    finally:
        stop(proc)


def test_unreachable_kafka_is_one_clear_line(logs: Path) -> None:
    env = dict(os.environ) | {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    done = subprocess.run(
        [sys.executable, "-m", "services.echo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "KAFKA_BOOTSTRAP_SERVERS unreachable at 127.0.0.1:1" in done.stderr
    assert "Traceback" not in done.stderr
