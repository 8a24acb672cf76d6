"""The monitor's state rebuilt from its changelog equals the state of a run that never stopped: crash
after any batch, restore from the compacted records, go on — same pending joins, same open window,
same alert states, and the changelog stays bounded by the TTL."""

from __future__ import annotations

import random

import pytest

from services.monitor.alerting import Alerting
from services.monitor.joins import Scored
from services.monitor.state import Change, MonitorState
from services.monitor.transforms import PredictionRow

DAY = 86_400.0


def _events(n: int, seed: int) -> list[tuple]:
    """Predictions one per 20 event-minutes; each labelled 7 days later (some early, some never)."""
    rng = random.Random(seed)
    events: list[tuple] = []
    for i in range(n):
        t = i * 1200.0
        row = PredictionRow(
            Scored(f"t{i}", f"c{i % 37}", t, rng.random(), "v1"), (float(i), 1.0), False, 40.0
        )
        events.append((t, 0, "p", row))
        if rng.random() < 0.9:
            late = t + 7 * DAY if rng.random() < 0.95 else t - 60  # a few labels come first
            events.append((late, 1, "l", (f"t{i}", rng.random() < 0.05, t)))
        if rng.random() < 0.01:
            events.append((t, 2, "d", None))
    return [(kind, payload) for _, _, kind, payload in sorted(events, key=lambda e: (e[0], e[1]))]


def _feed(state: MonitorState, events: list[tuple], log: dict[str, bytes], window: int) -> None:
    for kind, payload in events:
        if kind == "p":
            state.prediction(payload)
        elif kind == "l":
            state.label(*payload)
        else:
            state.dead_letter()
        if state.window.count >= window:
            _closed, tombstones = state.close_window()
            _apply(log, tombstones)
    _apply(log, state.flush())


def _apply(log: dict[str, bytes], changes: list[Change]) -> None:
    for key, value in changes:  # what compaction keeps: the latest value per key, no tombstones
        if value is None:
            log.pop(key, None)
        else:
            log[key] = value


def _snapshot(state: MonitorState) -> tuple:
    w = state.window
    return (
        sorted(state.joins.waiting.items()),
        sorted(state.joins.early.items()),
        (w.index, [r.scored.id for r in w.rows], [(j.prediction.id, j.target) for j in w.joined]),
        w.dead_letters,
        state.alerting.to_dict(),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_restore_after_any_batch_equals_a_run_that_never_stopped(seed: int) -> None:
    events = _events(3_000, seed)
    batches = [events[i : i + 97] for i in range(0, len(events), 97)]
    steady, steady_log = MonitorState(10 * DAY, Alerting()), {}
    crashy, log = MonitorState(10 * DAY, Alerting()), {}
    crash_at = set(random.Random(seed).sample(range(len(batches)), 8))
    for i, batch in enumerate(batches):
        _feed(steady, batch, steady_log, window=400)
        _feed(crashy, batch, log, window=400)
        if i in crash_at:
            crashy = MonitorState(10 * DAY, Alerting())
            crashy.restore(dict(log))
        assert _snapshot(crashy) == _snapshot(steady), f"after batch {i}"
    assert log == steady_log
    chunks = [k for k in log if k.startswith("b/")]
    assert 0 < len(chunks) < len(batches) / 2, "chunks older than the TTL are tombstoned"
    assert all(k.startswith(f"w/{steady.window.index}/") for k in log if k.startswith("w/")), (
        "closed windows gone"
    )
