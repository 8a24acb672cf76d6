"""The features stages in process: repartitioned views, changelog restore, the label gate, failed batches."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from services.common.contracts import encode
from services.features.handlers import FeatureEngine
from services.features.state import StateTable
from tests.stages_helpers import DECODE, PARTS, Loop, Writer, check_against_batch, feed, slice_of_days
from usecases.fraud import CONTRACTS


@pytest.mark.parametrize("split", [False, True], ids=["one process", "two processes"])
def test_repartitioned_stages_equal_the_batch_definitions(split: bool) -> None:
    table = slice_of_days()
    loop = Loop(split=split)
    feed(loop, table)
    check_against_batch(table, loop)
    if split:  # both paths taken: through the repartition topic and within the batch
        assert any(key[0] == "rep" and log for key, log in loop.logs.items())
        assert len(loop.out) > sum(len(log) for key, log in loop.logs.items() if key[0] == "rep") / 4
    for value in loop.out:  # what goes out is the contract
        CONTRACTS.featurized.model_validate_json(value)


def test_a_process_restored_from_the_changelogs_goes_on_as_if_never_stopped() -> None:
    table = slice_of_days()
    loop = Loop(split=True)
    restarts = []

    def restart(loop: Loop) -> None:
        if len(loop.out) > len(restarts) * 2_500 + 2_000:
            loop.stages = loop.start()  # a new process: everything from the changelogs
            restarts.append(len(loop.out))

    feed(loop, table, on_batch=restart)
    assert len(restarts) >= 2
    check_against_batch(table, loop)


def _tx(i: int, when: datetime, customer: str, terminal: str = "T", amount: float = 10.0) -> Any:
    return CONTRACTS.clean(
        tx_id=f"x{i}",
        event_time=when,
        customer_id=customer,
        terminal_id=terminal,
        amount=amount,
        currency="EUR",
        ingest_time=when,
        source_partition=0,
        source_offset=i,
    )


def test_a_failed_batch_leaves_no_trace_and_its_retry_is_exact() -> None:
    writer = Writer()
    loop = Loop(writer)
    when = datetime(2024, 1, 10, tzinfo=UTC)
    for i in range(3):  # one customer, one second: each event counts those before it and itself
        loop.produce("clean", encode(_tx(i, when, "c", terminal=f"T{i}")), "c")
    writer.fail = 1  # the batch fails after its windows changed in memory; the runner retries it
    loop.drain()
    assert loop.retries == 1
    got = loop.featurized()
    assert [got[f"x{i}"]["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] for i in range(3)] == [1, 2, 3]


def test_an_event_delivered_again_is_neither_featurized_again_nor_counted_twice() -> None:
    """ingest's clean path is at least once: a restart re-sends what came since its last checkpoint."""
    loop = Loop()
    when = datetime(2024, 1, 10, tzinfo=UTC)
    first = encode(_tx(1, when, "c", terminal="T1"))
    loop.produce("clean", first, "c")
    loop.produce("clean", first, "c")  # in the same batch
    loop.produce("clean", encode(_tx(2, when + timedelta(hours=1), "c", terminal="T2")), "c")
    loop.drain()
    loop.produce("clean", first, "c")  # in a later batch, after a newer event of the customer
    loop.produce("clean", encode(_tx(3, when + timedelta(hours=2), "c", terminal="T1")), "c")
    loop.drain()
    ids = [orjson.loads(v)["tx_id"] for v in loop.out]
    assert sorted(ids) == ["x1", "x2", "x3"]
    got = loop.featurized()["x3"]["features"]
    assert got["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 3
    assert loop.writer.rows[("customer_spending", "c")]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 3
    assert loop.stages.metrics.duplicates._value.get() == 2


def test_an_event_waits_for_the_labels_there_when_it_came_and_not_for_later_ones() -> None:
    clock = [1000.0]
    loop = Loop(clock=clock)
    day = datetime(2024, 1, 10, tzinfo=UTC)

    for i in range(3):  # three transactions at T, 10 days before
        loop.produce("clean", encode(_tx(i, day - timedelta(days=10), f"c{i}")), f"c{i}")
    loop.drain()
    loop.offsets.highs[("labels", 0)] += 1  # a label is on partition 0 that features has not read yet
    loop.produce("clean", encode(_tx(9, day, "c9")), "c9")
    loop.drain()
    assert "x9" not in loop.featurized()  # held: labels partition 0 is neither past its time nor drained
    # that label comes (earlier than the event); from here on another is always on the way (live labels):
    # the event does not wait for those (before, it waited for a drained partition: the whole label wait)
    fraud = CONTRACTS.feedback(
        tx_id="x1",
        customer_id="c1",
        terminal_id="T",
        tx_event_time=day - timedelta(days=10),
        is_fraud=True,
        label_time=day - timedelta(days=2),
    )
    loop.produce("labels", encode(fraud), "x1")
    loop.drain()
    event = loop.featurized()["x9"]
    assert event["features"]["TERMINAL_ID_RISK_7DAY_WINDOW"] == pytest.approx(1 / 3)


def test_a_hold_longer_than_the_label_wait_is_given_up() -> None:
    clock = [0.0]
    loop = Loop(clock=clock)
    when = datetime(2024, 1, 10, tzinfo=UTC)
    loop.offsets.highs[("labels", 1)] = 5  # labels partition 1 lags and never moves
    loop.produce("clean", encode(_tx(0, when, "c")), "c")
    loop.drain()
    assert not loop.out
    held = loop.changelog("cl1", zlib.crc32(b"T") % PARTS)
    assert any(k.startswith("\x00held/") for k in held)  # a held event is state: it survives a restart
    loop.stages = loop.start()
    clock[0] = 61.0
    loop.emit(loop.stages([]))  # a tick
    assert len(loop.out) == 1
    assert not any(k.startswith("\x00held/") for k in loop.changelog("cl1", zlib.crc32(b"T") % PARTS))


def test_an_event_whose_processing_raises_is_dead_lettered_and_the_partition_goes_on() -> None:
    """Through the shared runner: the poison event's batch is isolated, the event goes to the DLQ with
    its reason, and the events around it are counted exactly once."""
    from services.common.kafka.runner import Runner, RunnerConfig
    from tests.unit.stubs import StubConsumer, StubMessage, StubProducer

    loop = Loop()
    real = loop.stages.engines[0]

    def engine(table: StateTable) -> FeatureEngine:
        built = real(table)
        inputs = built.inputs
        assert inputs is not None

        def poisoned(event: Any, ts: int) -> dict[str, float]:
            if event.tx_id == "x2":
                raise ArithmeticError("amount out of range for the windows")
            return inputs(event, ts)

        built.inputs = poisoned
        return built

    loop.stages.engines[0] = engine
    loop.stages.states.clear()
    when = datetime(2024, 1, 10, tzinfo=UTC)
    log: list[str] = []
    producer = StubProducer(log)
    runner = Runner(
        RunnerConfig(service="features", dlq_topic="dlq"),
        consumer=StubConsumer(log),
        producer=producer,
        decoders=DECODE,
        handler=loop.stages,
    )
    messages = [
        StubMessage(encode(_tx(i, when, "c", terminal=f"T{i}")), i, "clean", 0, b"c") for i in range(5)
    ]
    runner.process(messages)
    dead = [m for m in producer.produced if m["topic"] == "dlq"]
    assert len(dead) == 1 and dict(dead[0]["headers"])["rtloop.error.message"].startswith(
        b"amount out of range"
    )
    reps = [m for m in producer.produced if m["topic"] == "rep" and orjson.loads(m["value"])["k"] == "e"]
    counts = sorted(orjson.loads(m["value"])["f"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] for m in reps)
    assert counts == [1, 2, 3, 4]  # the four others, each once


def test_a_clean_partition_read_ahead_waits_for_the_others_to_reach_its_delayed_windows() -> None:
    loop = Loop()
    day = datetime(2024, 1, 20, tzinfo=UTC)
    loop.offsets.highs[("clean", 1)] += 1  # partition 1 holds an event not read yet
    loop.produce("clean", encode(_tx(1, day, "a")), "a", partition=0)
    loop.drain()
    assert not loop.out  # partition 1 has neither reached day 13 nor been read to its end
    loop.offsets.highs[("clean", 1)] -= 1
    loop.produce("clean", encode(_tx(2, day - timedelta(days=7, hours=12), "b")), "b", partition=1)
    loop.drain()
    got = loop.featurized()
    assert got["x1"]["features"]["TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 1  # the earlier event counts
