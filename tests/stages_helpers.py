"""The features stages in process for the unit tests: topics as lists, changelogs as compacted dicts, an
online store in memory that can fail, and the replay's order of a simulated slice."""

from __future__ import annotations

import functools
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.common.contracts import decoder_for, encode
from services.common.kafka.decode import json_object
from services.common.kafka.envelope import Envelope, Output
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.sinks import FeatureSinks
from services.features.gate import StageTopics
from services.features.stages import FeatureStages
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


def slice_of_days(days: int = 38) -> Any:
    return simulate(SimulationConfig(n_customers=150, n_terminals=300, n_days=days))


def feed(loop: Loop, table: Any, batch: int = 400, on_batch: Any = None) -> None:
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


def check_against_batch(table: Any, loop: Loop) -> None:
    got = loop.featurized()
    expected = batch_features(table)
    assert len(got) == len(expected) == table.num_rows
    carried = {k: e["features"] for k, e in got.items()}
    problems = compare(expected, carried)
    assert not problems, f"{len(problems)} mismatches, first: {problems[:5]}"
    online = {k: e["online_features"] for k, e in got.items()}
    assert not compare(expected, online)
    assert expected["TERMINAL_ID_RISK_30DAY_WINDOW"].max() > 0  # frauds in the slice: risk is exercised
