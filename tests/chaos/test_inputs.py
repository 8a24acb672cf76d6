"""Chaos, inputs: the whole loop (`rtloop up`) fed a replay in which 1% of the events are the replay's
corruptions, 1% carry an added field (a producer on a newer schema), 1% are over a day late, and 10% are
stamped by a producer whose clock is 10 minutes off either way; then one record of each of ingest's
bad-input kinds. Each bad record ends in the dead-letter topic with its reason; every other event gets
exactly one prediction."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.common.kafka.clients import make_producer
from services.common.kafka.envelope import header
from tests.chaos.load import ids_of, tally, up_with_model
from tests.e2e.test_up_down import _transactions
from tests.integration.test_ingest import REASON
from tests.kafka_helpers import consume
from tests.supervisor_helpers import Stack
from tests.unit.ingest.test_transforms import BAD, j
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import CORRUPTION_HEADER, ReplayOptions, replay

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

EVENTS, RATE = 10_000, 200.0
KIND = "rtloop.test.kind"  # which bad-input kind a record is (the dead letter keeps the headers)


def test_odd_and_bad_inputs_through_the_whole_loop(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    table = _transactions(EVENTS)
    try:
        kafka = up_with_model(stack, tmp_path / "models")
        odd = OddProducer(make_producer(kafka, **{"linger.ms": 20}))
        stream = build_stream(table).only(labels=False)
        result = replay(kafka, stream, ReplayOptions(rate=RATE, corrupt_share=0.01), producer=odd)
        assert result.failed == 0
        bad = _bad_records()
        for name, (value, _why) in bad.items():
            odd.producer.produce("transactions.raw", value, b"bad", headers=[(KIND, name.encode())])
        assert odd.producer.flush(30) == 0
        expected = {  # the replay's events it did not corrupt
            orjson.loads(m.value() or b"")["tx_id"]
            for m in consume(kafka, "transactions.raw", 10**9, timeout_s=10)
            if not _tag(m, CORRUPTION_HEADER) and not _tag(m, KIND)
        }
        consume(kafka, "predictions", len(expected), 420)
        time.sleep(10)  # anything more would be a duplicate
        preds = [orjson.loads(m.value() or b"") for m in consume(kafka, "predictions", 10**9, timeout_s=10)]
        dead = consume(kafka, "transactions.dlq", sum(result.corrupted.values()) + len(bad), 180)
    finally:
        down = stack.rtloop("down", timeout_s=240)
    assert down.returncode == 0, down.stdout + down.stderr
    reasons = {_reason(m): m for m in dead}
    got = {kind: _reason(m) for m in dead if (kind := _tag(m, KIND))}
    assert got == {name: reason for name, (_v, reason) in bad.items()}, "each bad kind with its reason"
    replayed = Counter((kind, _reason(m)) for m in dead if (kind := _tag(m, CORRUPTION_HEADER)))
    assert sum(replayed.values()) == sum(result.corrupted.values()), "every corrupted event dead-lettered"
    assert all(REASON[kind] == reason for kind, reason in replayed), replayed
    # the bad kinds share the unit tests' event id, which the replay may use too
    dead_ids = ids_of(m for m in dead if not _tag(m, KIND))
    print(
        f"INPUTS {odd.added} with an added field, {odd.late} over a day late, {odd.skewed} stamped 10 min "
        f"off, {sum(result.corrupted.values())} corrupted by the replay, {len(bad)} bad kinds; "
        f"{len(reasons)} distinct reasons in the dead-letter topic"
    )
    assert min(odd.added, odd.late, odd.skewed) > 0
    tally(
        "odd and bad inputs through the loop",
        len(bad) + sum(result.corrupted.values()),
        expected,
        [p["tx_id"] for p in preds if not p["shadow"]],
        dead_ids,
    )


class OddProducer:
    """A producer for `replay` that sends some valid events oddly: with an added field, over a day late
    in event time, or stamped by a clock 10 minutes off (the record's timestamp)."""

    def __init__(self, producer: Any, seed: int = 5) -> None:
        self.producer, self.rng = producer, random.Random(seed)
        self.added = self.late = self.skewed = 0

    def produce(self, topic: str, value: bytes, key: bytes, headers: Any = None, **kw: Any) -> None:
        if topic == "transactions.raw" and headers is None:  # not one of the replay's corruptions
            roll = self.rng.random()
            if roll < 0.01:
                value, self.added = value[:-1] + b',"channel":"web","schema_version":2}', self.added + 1
            elif roll < 0.02:
                doc = orjson.loads(value)
                at = datetime.fromisoformat(doc["event_time"].replace("Z", "+00:00")) - timedelta(days=2)
                doc["event_time"] = _iso(at)
                value, self.late = orjson.dumps(doc), self.late + 1
            if self.rng.random() < 0.10:
                off = self.rng.choice((-600_000, 600_000))
                kw["timestamp"], self.skewed = int(time.time() * 1000) + off, self.skewed + 1
        self.producer.produce(topic, value, key, headers=headers, **kw)

    def poll(self, timeout: float = 0) -> int:
        return int(self.producer.poll(timeout))

    def flush(self, timeout: float = -1) -> int:
        return int(self.producer.flush(timeout))


def _bad_records() -> dict[str, tuple[bytes | None, str]]:
    """Each of ingest's bad-input kinds (the unit tests' table) as it arrives now: the time bounds
    relative to the record's time, the amount bound the fraud declaration's."""
    now = datetime.now(UTC)
    changed = {
        "future time": (j(event_time=_iso(now + timedelta(minutes=20))), "future_timestamp"),
        "ancient time": (j(event_time=_iso(now - timedelta(days=10_001))), "ancient_timestamp"),
        "huge amount": (j(amount=1_000_000.0), "amount_too_large"),
    }
    return {name: changed.get(name, (value, reason)) for name, value, reason, _says in BAD}


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _tag(m: Any, name: str) -> str | None:
    value: bytes | None = header(m.headers(), name)
    return value.decode() if value is not None else None


def _reason(m: Any) -> str:
    return _tag(m, "rtloop.error.reason") or ""
