"""The runner's batch semantics, on stub clients: decode, dead-letter, retry, deliver, then commit."""

from __future__ import annotations

import errno
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
import redis

from services.common.contracts import decoder_for
from services.common.errors import TransientError, is_transient
from services.common.kafka import Envelope, Output, Runner, RunnerConfig
from services.common.kafka.dlq import DLQ_HEADERS
from services.common.kafka.envelope import header
from services.common.kafka.retry import Backoff, Interrupted
from tests.factories import tx
from tests.unit.stubs import StubConsumer, StubKafkaError, StubMessage, StubProducer
from usecases.fraud import CONTRACTS


def make_runner(handler: Any, **cfg: Any) -> tuple[Runner, StubConsumer, StubProducer, list[str]]:
    log: list[str] = []
    consumer, producer = StubConsumer(log), StubProducer(log)
    config = RunnerConfig(service="svc", dlq_topic="dlq", backoff=Backoff(0.001, 0.002), **cfg)
    runner = Runner(
        config,
        consumer=consumer,
        producer=producer,
        decoders={"in": decoder_for(CONTRACTS.raw)},
        handler=handler,
    )
    return runner, consumer, producer, log


def echo(batch: Sequence[Envelope[Any]]) -> list[Output]:
    return [Output("out", env.raw, key=env.value.customer_id, source=env) for env in batch]


def test_outputs_are_delivered_before_the_offsets_are_committed() -> None:
    runner, consumer, producer, log = make_runner(echo)
    runner.process([StubMessage(tx(i), i, _partition=i % 2) for i in range(6)])
    assert [m["topic"] for m in producer.produced] == ["out"] * 6
    assert log.index("commit") > max(i for i, e in enumerate(log) if e.startswith("delivered"))
    assert sorted(consumer.commits[0]) == [("in", 0, 5), ("in", 1, 6)]


def test_bad_messages_go_to_the_dlq_with_reason_headers_and_the_batch_goes_on() -> None:
    runner, consumer, producer, _ = make_runner(echo, max_value_bytes=1000)
    batch = [
        StubMessage(tx(0), 0),
        StubMessage(b"{not json", 1),
        StubMessage(b"", 2),
        StubMessage(b"x" * 2000, 3),
        StubMessage(tx(4), 4),
    ]
    runner.process(batch)
    out = [m for m in producer.produced if m["topic"] == "out"]
    dlq = [m for m in producer.produced if m["topic"] == "dlq"]
    assert len(out) == 2
    assert [header(m["headers"], "rtloop.error.reason") for m in dlq] == [
        b"malformed_json",
        b"empty_value",
        b"too_large",
    ]
    first = dlq[0]
    assert first["value"] == b"{not json"
    assert {name for name, _ in first["headers"]} >= set(DLQ_HEADERS)
    assert header(first["headers"], "rtloop.source.offset") == b"1"
    assert header(first["headers"], "rtloop.service") == b"svc"
    assert consumer.commits == [[("in", 0, 5)]]


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.ResponseError("WRONGTYPE"),
        sqlite3.OperationalError("no such table: x"),
        ValueError("x"),
    ],
    ids=type,
)
def test_a_store_error_that_retrying_cannot_fix_is_not_transient(error: Exception) -> None:
    assert not is_transient(error)


def test_a_failing_message_is_isolated_and_dead_lettered_alone() -> None:
    def picky(batch: Sequence[Envelope[Any]]) -> list[Output]:
        if any(env.value.tx_id == "2" for env in batch):
            raise ValueError("cannot handle tx 2")
        return echo(batch)

    runner, _, producer, _ = make_runner(picky)
    runner.process([StubMessage(tx(i), i) for i in range(4)])
    assert sorted(orjson.loads(m["value"])["tx_id"] for m in producer.produced if m["topic"] == "out") == [
        "0",
        "1",
        "3",
    ]
    (dead,) = [m for m in producer.produced if m["topic"] == "dlq"]
    assert header(dead["headers"], "rtloop.error.class") == b"ValueError"
    assert b"cannot handle tx 2" in (header(dead["headers"], "rtloop.error.message") or b"")


def test_a_stop_during_isolation_leaves_the_batch_uncommitted() -> None:
    """Isolating a large failed batch one message at a time can take long (CI: a monitor ignored
    SIGTERM for minutes): a stop ends it, nothing is produced or committed, the batch comes again."""
    calls: list[int] = []

    def failing(batch: Sequence[Envelope[Any]]) -> list[Output]:
        calls.append(len(batch))
        if len(calls) == 3:
            runner.stop()
        raise ValueError("window close failed")

    runner, consumer, producer, _ = make_runner(failing)
    with pytest.raises(Interrupted):
        runner.process([StubMessage(tx(i), i) for i in range(100)])
    assert calls == [100, 1, 1], "isolation ended at the stop"
    assert not producer.produced and not consumer.commits


@pytest.mark.parametrize(
    ("outage", "dependency"),
    [
        (TransientError("store unavailable"), "a dependency"),
        (
            redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
            "redis",
        ),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), "redis"),
        (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), "redis"),
        (sqlite3.OperationalError("database is locked"), "sqlite"),
        (OSError(errno.ENOSPC, "No space left on device"), "storage"),
        (
            RuntimeError("Generic DeltaTable error: Io error: No space left on device (os error 28)"),
            "storage",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v,
)
def test_transient_handler_errors_are_retried_not_dropped_and_shown_while_they_last(
    outage: Exception, dependency: str
) -> None:
    """A store outage (redis-py's errors do not derive from the built-in ConnectionError) or a full disk
    is retried; meanwhile the service is alive but not ready, and /readyz and a gauge say what is down."""
    calls, seen = {"n": 0}, []

    def flaky(batch: Sequence[Envelope[Any]]) -> list[Output]:
        calls["n"] += 1
        seen.append((runner.health.ready_now, runner.health.outage, _outage(runner, dependency)))
        if calls["n"] < 3:
            raise outage
        return echo(batch)

    runner, consumer, producer, _ = make_runner(flaky)
    runner.health.ready = True
    runner.process([StubMessage(tx(i), i) for i in range(3)])
    assert calls["n"] == 3
    assert len(producer.produced) == 3
    assert not [m for m in producer.produced if m["topic"] == "dlq"]
    assert consumer.commits == [[("in", 0, 3)]]
    waiting = f"waiting for {dependency} (retrying): {type(outage).__name__}"
    assert seen == [(True, None, None), (False, waiting, 1.0), (False, waiting, 1.0)]
    assert runner.health.ready_now and _outage(runner, dependency) == 0.0, "back once the call went through"


def _outage(runner: Runner, dependency: str) -> float | None:
    return runner.metrics.registry.get_sample_value(
        "rtloop_dependency_outage", {"service": "svc", "dependency": dependency}
    )


def test_retriable_delivery_failures_are_produced_again() -> None:
    runner, consumer, producer, _ = make_runner(echo)
    producer.fail_next = [StubKafkaError(True), None]
    runner.process([StubMessage(tx(0), 0), StubMessage(tx(1), 1)])
    assert sorted(orjson.loads(m["value"])["tx_id"] for m in producer.produced) == ["0", "1"]
    assert consumer.commits == [[("in", 0, 2)]]


def test_an_output_the_broker_refuses_dead_letters_its_source() -> None:
    runner, _, producer, _ = make_runner(echo)
    producer.fail_next = [StubKafkaError(False, "MSG_SIZE_TOO_LARGE")]
    runner.process([StubMessage(tx(0), 0)])
    (dead,) = producer.produced
    assert dead["topic"] == "dlq"
    assert b"MSG_SIZE_TOO_LARGE" in (header(dead["headers"], "rtloop.error.message") or b"")


def test_stop_during_transient_retries_leaves_the_batch_uncommitted() -> None:
    def down(batch: Sequence[Envelope[Any]]) -> list[Output]:
        raise TransientError("broker down")

    runner, consumer, producer, _ = make_runner(down)
    threading.Timer(0.05, runner.stop).start()
    from services.common.kafka.retry import Interrupted

    with pytest.raises(Interrupted):
        runner.process([StubMessage(tx(0), 0)])
    assert consumer.commits == []
    assert producer.produced == []


def test_trace_context_continues_from_input_to_output() -> None:
    parent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    runner, _, producer, _ = make_runner(echo)
    runner.process([StubMessage(tx(0), 0, _headers=[("traceparent", parent)])])
    (out,) = producer.produced
    got = header(out["headers"], "traceparent")
    assert got is not None
    assert got.split(b"-")[1] == parent.split(b"-")[1]


def test_unreadable_committed_offsets_say_what_to_run_and_the_consumer_subscribes_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stall whose committed offsets cannot be read: the error names the remedy (a hanging transaction
    is aborted with `rtloop broker hanging --abort`), /readyz's detail says so, and it re-subscribes."""
    from confluent_kafka import TopicPartition

    runner, consumer, _, log = make_runner(echo)
    consumer.unsubscribe = lambda: log.append("unsubscribe")  # type: ignore[attr-defined]
    consumer.subscribe = lambda *_a, **_k: log.append("subscribe")  # type: ignore[method-assign]
    runner.assignment.unreadable = [TopicPartition("in", 3)]
    with caplog.at_level("ERROR"):
        runner._resubscribe([TopicPartition("in", 3)])
    assert "committed offsets of in[3] cannot be read" in caplog.text
    assert "rtloop broker hanging --abort" in caplog.text
    assert runner.health.detail == "committed offsets of in[3] unreadable: a hanging transaction?"
    assert log == ["unsubscribe", "subscribe"]
