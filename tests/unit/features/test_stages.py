"""The features stages in process: repartitioned views, changelog restore, the label gate, failed batches."""

from __future__ import annotations

import functools
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from services.common.contracts import decoder_for, encode
from services.common.kafka.decode import json_object
from services.common.kafka.envelope import Envelope, Output
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.sinks import FeatureSinks
from services.features.gate import StageTopics
from services.features.handlers import FeatureEngine
from services.features.stages import FeatureStages
from services.features.state import StateTable
from services.features.transforms import view_engine
from tests.features_helpers import batch_features, compare
from usecases.fraud import CONTRACTS, FRAUD, FRAUD_V1
from usecases.fraud.replay import build_stream
from usecases.fraud.simulator import SimulationConfig, simulate

PARTS = 3
TOPICS = StageTopics(("clean", "rep"), ("cl0", "cl1"), "labels", "out", PARTS, (PARTS, PARTS))
DECODE = {
    "clean": decoder_for(CONTRACTS.clean),
    "labels": decoder_for(CONTRACTS.feedback),
    "rep": json_object,
}


class Writer:
    """An online store in memory that can be made to fail."""

    class reader:  # noqa: N801 - the shape FeatureSinks closes
        @staticmethod
        def close() -> None:
            return None

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, float]] = {}
        self.fail = 0

    def write(self, ops: list[list[Any]], read_back: bool = False) -> list[list[Any]]:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("online store down")
        seen = []
        for wave in ops:  # each wave read back right after it is written
            for spec, key, features, _ts in wave:
                self.rows[(spec.name, key)] = {n: features[n] for n in spec.features}
            seen.append([dict(self.rows[(s.name, k)]) if read_back else None for s, k, _f, _t in wave])
        return seen


class Offsets:
    """Partitions: the next offset handed out and the end, as the loop or the test sets them."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, int], int] = {}
        self.highs: dict[tuple[str, int], int] = defaultdict(int)

    def position(self, topic: str, p: int) -> int | None:
        return self.positions.get((topic, p))

    def start(self, _topic: str, _p: int) -> int:
        return 0

    def high(self, topic: str, p: int, _assigned: bool) -> int:
        return self.highs[(topic, p)]


class Loop:
    """Topics as lists, the changelogs as compacted dicts, and one process owning every partition, or
    (`split`) a second one owning terminal partitions 1 and 2: what the first sends there goes through
    the repartition topic, the rest it handles in the same batch."""

    def __init__(
        self, writer: Writer | None = None, clock: list[float] | None = None, split: bool = False
    ) -> None:
        self.writer, self.clock = writer or Writer(), clock or [0.0]
        self.logs: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = defaultdict(list)
        self.read: dict[tuple[str, int], int] = defaultdict(int)
        self.out: list[bytes] = []
        self.retries = 0
        self.offsets = Offsets()
        self.other_parts = {("rep", 1), ("rep", 2)} if split else set()
        self.stages = self.start()
        self.other = self.start(self.other_parts) if split else None

    def start(self, parts: set[tuple[str, int]] | None = None) -> FeatureStages:
        sinks = [FeatureSinks(self.writer, [spec], [], "tx_id", read_back=True) for spec in FRAUD_V1.views]
        stages = FeatureStages(
            [functools.partial(view_engine, FRAUD, i, 1) for i in range(2)],
            sinks,
            TOPICS,
            self.changelog,
            feature_service="fraud_v1",
            contracts=CONTRACTS,
            label_wait_s=60,
            metrics=FeaturesMetrics(),
            clock=lambda: self.clock[0],
        )
        stages.offsets = self.offsets
        everything = {(t, p) for t in ("clean", "labels", "rep") for p in range(PARTS)}
        stages.assigned(sorted(parts or everything - self.other_parts))
        return stages

    def changelog(self, topic: str, p: int) -> dict[str, bytes]:
        records: dict[str, bytes] = {}
        for key, value in self.logs[(topic, p)]:
            if value is None:
                records.pop((key or b"").decode(), None)
            else:
                records[(key or b"").decode()] = value
        return records

    def produce(
        self, topic: str, value: bytes, key: str | bytes | None, partition: int | None = None
    ) -> None:
        raw_key = key.encode() if isinstance(key, str) else key
        p = partition if partition is not None else zlib.crc32(raw_key or b"") % PARTS
        self.logs[(topic, p)].append((raw_key, value))
        self.offsets.highs[(topic, p)] += 1

    def step(self) -> list[Output]:
        """One batch: everything not read yet of the input topics."""
        envs = []
        for (topic, p), log in list(self.logs.items()):
            if topic not in DECODE:
                continue
            for offset in range(self.read[(topic, p)], len(log)):
                key, value = log[offset]
                assert value is not None
                envs.append(Envelope(DECODE[topic](value), key, (), topic, p, offset, 0, value))
            self.read[(topic, p)] = len(log)
            self.offsets.positions[(topic, p)] = len(log)
        mine = [e for e in envs if (e.topic, e.partition) not in self.other_parts]
        theirs = [e for e in envs if (e.topic, e.partition) in self.other_parts]
        outputs = []
        for process, batch in ((self.stages, mine), (self.other, theirs)):
            while process is not None:
                try:
                    outputs += self.emit(process(batch))
                    break
                except ConnectionError:  # the runner retries a transient failure with the same batch
                    self.retries += 1
        return outputs

    def emit(self, outputs: list[Output]) -> list[Output]:
        for out in outputs:
            value = out.value if isinstance(out.value, bytes | None) else encode(out.value)
            if out.topic == "out":
                assert value is not None
                self.out.append(value)
            elif out.topic in ("cl0", "cl1"):
                self.logs[(out.topic, out.partition or 0)].append((_bytes(out.key), value))
            else:
                assert value is not None
                self.produce(out.topic, value, out.key, out.partition)
        return outputs

    def drain(self) -> None:
        while any(self.read[k] < len(v) for k, v in self.logs.items() if k[0] in DECODE):
            self.step()

    def featurized(self) -> dict[str, dict[str, Any]]:
        events = [orjson.loads(v) for v in self.out]
        return {e["tx_id"]: e for e in events}


def _bytes(key: bytes | str | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


def _slice(days: int = 38) -> Any:
    return simulate(SimulationConfig(n_customers=150, n_terminals=300, n_days=days))


def _feed(loop: Loop, table: Any, batch: int = 400, on_batch: Any = None) -> None:
    """The replay's order of the slice: clean events keyed by customer, labels by transaction."""
    stream, now = build_stream(table), datetime.now(UTC)
    for i, (is_label, row, when, ids) in enumerate(stream.walk()):
        if is_label:
            label = CONTRACTS.feedback(
                **ids,
                tx_event_time=when,
                is_fraud=bool(stream.is_fraud[row]),
                label_time=when + timedelta(days=7),
            )
            loop.produce("labels", encode(label), ids["tx_id"])
        else:
            tx = CONTRACTS.clean(
                **ids,
                event_time=when,
                amount=float(stream.amount[row]),
                currency="EUR",
                ingest_time=now,
                source_partition=row % 2,
                source_offset=row,
            )
            loop.produce("clean", encode(tx), ids["customer_id"])
        if i % batch == batch - 1:
            loop.step()
            if on_batch is not None:
                on_batch(loop)
    loop.drain()


def _check(table: Any, loop: Loop) -> None:
    got = loop.featurized()
    expected = batch_features(table)
    assert len(got) == len(expected) == table.num_rows
    carried = {k: e["features"] for k, e in got.items()}
    problems = compare(expected, carried)
    assert not problems, f"{len(problems)} mismatches, first: {problems[:5]}"
    online = {k: e["online_features"] for k, e in got.items()}
    assert not compare(expected, online)
    assert expected["TERMINAL_ID_RISK_30DAY_WINDOW"].max() > 0  # frauds in the slice: risk is exercised


@pytest.mark.parametrize("split", [False, True], ids=["one process", "two processes"])
def test_repartitioned_stages_equal_the_batch_definitions(split: bool) -> None:
    table = _slice()
    loop = Loop(split=split)
    _feed(loop, table)
    _check(table, loop)
    if split:  # both paths taken: through the repartition topic and within the batch
        assert any(key[0] == "rep" and log for key, log in loop.logs.items())
        assert len(loop.out) > sum(len(log) for key, log in loop.logs.items() if key[0] == "rep") / 4
    for value in loop.out:  # what goes out is the contract
        CONTRACTS.featurized.model_validate_json(value)


def test_a_process_restored_from_the_changelogs_goes_on_as_if_never_stopped() -> None:
    table = _slice()
    loop = Loop(split=True)
    restarts = []

    def restart(loop: Loop) -> None:
        if len(loop.out) > len(restarts) * 2_500 + 2_000:
            loop.stages = loop.start()  # a new process: everything from the changelogs
            restarts.append(len(loop.out))

    _feed(loop, table, on_batch=restart)
    assert len(restarts) >= 2
    _check(table, loop)


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
