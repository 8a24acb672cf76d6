"""The features pipeline's output stages: events out after Delta (default) or before it, acks only
after both, appends spaced."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from services.features.adapters import pipeline as pipeline_mod
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.pipeline import Batch, Pipeline
from services.features.adapters.sinks import Written
from services.features.config import FeaturesSettings
from services.features.transforms import CUSTOMER_FEATURES
from tests.factories import clean_tx


class _Event:
    def __init__(self, offset: int) -> None:
        self.message = SimpleNamespace(key=b"c1", headers=(), partition=0, offset=offset)
        self.acked_at: float | None = None

    def ack(self) -> None:
        self.acked_at = time.monotonic()


class _Outputs:
    """Stands in for the librdkafka outputs: records what each flush delivered, and when."""

    flushed: ClassVar[list[tuple[float, int]]] = []

    def __init__(self, *_: Any) -> None:
        self.pending = 0

    async def send(self, *_: Any) -> None:
        self.pending += 1

    async def flush(self) -> None:
        _Outputs.flushed.append((time.monotonic(), self.pending))
        self.pending = 0


class _Sinks:
    """Delta appends that record their rows and can be held."""

    def __init__(self) -> None:
        self.appends: list[tuple[float, list[int]]] = []
        self.release = threading.Event()
        self.release.set()

    def lake_rows(self, computed: list[Any]) -> list[int]:
        return [c.offset for c in computed]

    def lake(self, rows: list[int]) -> int:
        self.release.wait(10)
        self.appends.append((time.monotonic(), rows))
        return len(rows)


def _batch(offsets: list[int]) -> Batch:
    events = [_Event(o) for o in offsets]
    txs = [clean_tx(o, datetime(2018, 4, 1, tzinfo=UTC)) for o in offsets]
    features = dict.fromkeys(CUSTOMER_FEATURES, 1.0)
    computed = [
        SimpleNamespace(offset=o, times=(datetime(2018, 4, 1, tzinfo=UTC),), features=features)
        for o in offsets
    ]
    written = Written(online_at=[time.time()] * len(offsets), read_back=[None] * len(offsets))
    return Batch(events, list(zip(txs, events, strict=True)), computed, time.monotonic(), written)  # type: ignore[arg-type]


def _pipeline(
    monkeypatch: pytest.MonkeyPatch, interval_ms: int, after_lake: bool | None = None
) -> tuple[Pipeline, _Sinks]:
    """The pipeline on stub outputs and sinks; `after_lake` None: the settings' default order."""
    monkeypatch.setattr(pipeline_mod, "Outputs", _Outputs)
    monkeypatch.setattr(pipeline_mod, "producer_for", lambda *_: None)
    _Outputs.flushed = []
    sinks = _Sinks()
    app = SimpleNamespace(crash=lambda exc: pytest.fail(f"pipeline crashed: {exc!r}"))
    order = {} if after_lake is None else {"emit_after_lake": after_lake}
    settings = FeaturesSettings(lake_min_interval_ms=interval_ms, **order)
    return Pipeline(app, settings, sinks, FeaturesMetrics(), None), sinks  # type: ignore[arg-type]


async def _run(pipe: Pipeline, batches: list[Batch], until: Any, gap_s: float = 0.0) -> None:
    tasks = [asyncio.create_task(pipe.run_emit()), asyncio.create_task(pipe.run_lake())]
    try:
        for batch in batches:  # as the online stage hands them on
            await (pipe.lake_q if pipe.after_lake else pipe.emit_q).put(batch)
            await asyncio.sleep(gap_s)
        deadline = time.monotonic() + 10
        while not until() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_events_can_wait_until_their_rows_are_in_delta(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe, sinks = _pipeline(monkeypatch, interval_ms=0, after_lake=True)
    sinks.release.clear()
    batch = _batch([1, 2, 3])
    flushed_while_held: list[int] = []

    async def scenario() -> None:
        async def hold_then_release() -> None:
            await asyncio.sleep(0.3)  # the append is held: no event may go out, none be acked
            flushed_while_held.append(len(_Outputs.flushed))
            flushed_while_held.append(sum(e.acked_at is not None for e in batch.events))  # type: ignore[attr-defined]
            sinks.release.set()

        releaser = asyncio.create_task(hold_then_release())
        await _run(pipe, [batch], lambda: all(e.acked_at for e in batch.events))  # type: ignore[attr-defined]
        await releaser

    asyncio.run(scenario())
    assert flushed_while_held == [0, 0]
    assert sinks.appends and _Outputs.flushed == [(_Outputs.flushed[0][0], 3)]
    appended_at, flushed_at = sinks.appends[0][0], _Outputs.flushed[0][0]
    assert appended_at <= flushed_at
    assert all(e.acked_at is not None and e.acked_at >= flushed_at for e in batch.events)  # type: ignore[attr-defined]


def test_by_default_events_go_out_before_the_delta_append_and_are_acked_only_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipe, sinks = _pipeline(monkeypatch, interval_ms=0)
    sinks.release.clear()
    batch = _batch([1, 2, 3])

    acked_while_held: list[bool] = []

    async def scenario() -> None:
        async def hold_then_release() -> None:
            deadline = time.monotonic() + 5
            while not _Outputs.flushed and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # the append is still held: nothing may be acked yet
            acked_while_held.extend(e.acked_at is not None for e in batch.events)  # type: ignore[attr-defined]
            sinks.release.set()

        releaser = asyncio.create_task(hold_then_release())
        await _run(pipe, [batch], lambda: all(e.acked_at for e in batch.events))  # type: ignore[attr-defined]
        await releaser

    asyncio.run(scenario())
    assert _Outputs.flushed, "the features events waited for the Delta append"
    assert acked_while_held == [False, False, False]
    assert _Outputs.flushed[0][1] == 3
    assert sinks.appends == [(sinks.appends[0][0], [1, 2, 3])]
    flushed_at, appended_at = _Outputs.flushed[0][0], sinks.appends[0][0]
    assert flushed_at < appended_at
    assert all(e.acked_at is not None and e.acked_at >= appended_at for e in batch.events)  # type: ignore[attr-defined]


def test_delta_appends_are_spaced_and_carry_every_row_once(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe, sinks = _pipeline(monkeypatch, interval_ms=200)
    batches = [_batch([3 * i, 3 * i + 1, 3 * i + 2]) for i in range(20)]
    events = [e for b in batches for e in b.events]

    asyncio.run(_run(pipe, batches, lambda: all(e.acked_at for e in events), gap_s=0.02))  # type: ignore[attr-defined]

    assert sorted(r for _, rows in sinks.appends for r in rows) == list(range(60))
    assert 2 <= len(sinks.appends) < 20  # batches emitted during an interval share an append
    times = [t for t, _ in sinks.appends]
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(times))
    assert sum(n for _, n in _Outputs.flushed) == 60
    first_flush = _Outputs.flushed[0][0]
    assert first_flush < times[0]  # the first events did not wait for their append


def test_redeliveries_alone_are_acked_after_the_batches_before_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of re-deliveries (nothing to compute) goes through the stages like any other, so an
    offset is never acked before the first delivery's outputs are durable."""
    pipe, sinks = _pipeline(monkeypatch, interval_ms=0, after_lake=True)
    sinks.release.clear()
    first = _batch([1, 2])
    again = Batch([_Event(1), _Event(2)], [], [], time.monotonic(), Written())  # type: ignore[list-item]
    acked_while_held: list[bool] = []

    async def scenario() -> None:
        async def hold_then_release() -> None:
            await asyncio.sleep(0.3)
            acked_while_held.extend(e.acked_at is not None for e in again.events)  # type: ignore[attr-defined]
            sinks.release.set()

        releaser = asyncio.create_task(hold_then_release())
        await _run(pipe, [first, again], lambda: all(e.acked_at for e in again.events))  # type: ignore[attr-defined]
        await releaser

    asyncio.run(scenario())
    assert acked_while_held == [False, False]
    first_acked = max(e.acked_at for e in first.events)  # type: ignore[attr-defined]
    assert all(e.acked_at >= first_acked for e in again.events)  # type: ignore[attr-defined]
    assert sorted(r for _, rows in sinks.appends for r in rows) == [1, 2]
