"""A ranking model's monitoring: each interaction answers its user's previous recommendation, whichever
topic comes first; repeats change nothing; the state rebuilt from its changelog after any batch equals a
run that never stopped; a window's recall / NDCG / MRR are the offline definitions of its lists; the
recommended items' popularity drifts and is named."""

from __future__ import annotations

import math
import random

import numpy as np
import orjson
import pytest

from services.common.drift import Reference
from services.common.evaluation import ranking_metrics
from services.common.ranking import POPULARITY, popularity_of, recommended_popularity
from services.monitor.alerting import Alerting
from services.monitor.joins import Joined, Scored
from services.monitor.ranking import (
    Interaction,
    InteractionFields,
    parse_interaction,
    parse_recommendation,
    window_popularity,
)
from services.monitor.state import MonitorState
from services.monitor.transforms import Checks, PredictionFields, PredictionRow, Window, assess
from tests.unit.monitor.test_state import _apply

DAY = 86_400.0
FIELDS = PredictionFields("interaction_id", "user_id", "event_time")


def _rec(event: str, user: str, t: float, items: tuple[str, ...]) -> PredictionRow:
    return PredictionRow(Scored(event, user, t, 0.5, "v1", items), (), False, 30.0)


def _pairs(state: MonitorState) -> list[tuple[str, str, tuple[str, ...]]]:
    return sorted((j.prediction.id, str(j.target), j.prediction.items) for j in state.window.joined)


def test_the_next_interaction_answers_the_previous_recommendation_in_either_order() -> None:
    state = MonitorState(30 * DAY, Alerting())
    state.interaction(Interaction("u1", "e1", "i1", 10.0))
    state.prediction(_rec("e1", "u1", 10.0, ("i2", "i3")))  # e1's recommendation: waits for u1's next
    state.interaction(Interaction("u2", "f1", "i9", 11.0))
    state.interaction(Interaction("u1", "e2", "i3", 12.0))  # answers e1: i3 was its second item
    state.interaction(Interaction("u1", "e3", "i7", 13.0))  # answers e2 before e2's recommendation
    state.interaction(Interaction("u1", "e3", "i7", 13.0))  # a repeat of the newest
    state.interaction(Interaction("u1", "e2", "i3", 12.0))  # a repeat of an answered one
    state.prediction(_rec("e2", "u1", 12.0, ("i1",)))
    assert _pairs(state) == [("e1", "i3", ("i2", "i3")), ("e2", "i7", ("i1",))]
    assert state.next_events.last == {"u1": ("e3", 13.0), "u2": ("f1", 11.0)}


def _stream(n: int, seed: int) -> list[tuple[str, object]]:
    """Interactions of 40 users, one a minute; each one's recommendation shortly after it, a few
    before it (the topics are read in any order)."""
    rng = random.Random(seed)
    out: list[tuple[float, str, object]] = []
    for i in range(n):
        t, user = i * 60.0, f"u{rng.randrange(40)}"
        out.append((t, "i", Interaction(user, f"e{i}", f"i{rng.randrange(30)}", t)))
        lag = rng.choice([1.0, 5.0, 90.0, -30.0])
        items = tuple(f"i{k}" for k in rng.sample(range(30), 5))
        out.append((t + lag, "p", _rec(f"e{i}", user, t, items)))
        if rng.random() < 0.02:
            out.append((t + 1, "i", Interaction(user, f"e{i}", "i0", t)))  # a redelivered interaction
    return [(kind, payload) for _, kind, payload in sorted(out, key=lambda e: e[0])]


@pytest.mark.parametrize("seed", [1, 2])
def test_a_restore_after_any_batch_equals_a_run_that_never_stopped(seed: int) -> None:
    events = _stream(2_000, seed)
    batches = [events[i : i + 53] for i in range(0, len(events), 53)]
    ttl = 2 * DAY  # users idle for longer are forgotten, and their records tombstoned
    steady, crashy = MonitorState(ttl, Alerting()), MonitorState(ttl, Alerting())
    steady_log: dict[str, bytes] = {}
    log: dict[str, bytes] = {}
    crash_at = set(random.Random(seed).sample(range(len(batches)), 8))
    for i, batch in enumerate(batches):
        for state, changes in ((steady, steady_log), (crashy, log)):
            for kind, payload in batch:
                if kind == "p":
                    state.prediction(payload)  # type: ignore[arg-type]
                else:
                    state.interaction(payload)  # type: ignore[arg-type]
            _apply(changes, state.flush())
        if i in crash_at:
            crashy = MonitorState(ttl, Alerting())
            crashy.restore(dict(log))
        assert _pairs(crashy) == _pairs(steady), f"after batch {i}"
        assert crashy.next_events.last == steady.next_events.last
        assert sorted(crashy.joins.waiting) == sorted(steady.joins.waiting)
    assert log == steady_log
    assert len(_pairs(steady)) > 1_900, "every interaction but each user's last answered, once"


def test_a_windows_quality_is_recall_ndcg_and_mrr_of_its_lists() -> None:
    rng = np.random.default_rng(0)
    state = MonitorState(30 * DAY, Alerting())
    truths = []
    for i in range(300):
        items = tuple(f"i{k}" for k in rng.permutation(50)[:10])
        state.prediction(_rec(f"e{i}", f"u{i}", float(i), items))
        state.interaction(Interaction(f"u{i}", f"e{i}", "x", float(i)))
        truth = f"i{rng.integers(50)}"
        state.interaction(Interaction(f"u{i}", f"n{i}", truth, float(i) + 0.5))
        truths.append(items.index(truth) + 1.0 if truth in items else math.inf)
    checks = Checks(quality_min_labelled=100, metrics=ranking_metrics(10), quality={"recall_at_10": 0.5})
    (quality,) = [f for f in assess(state.window, None, None, checks) if f.kind == "quality_drop"]
    ranks = np.array(truths)
    hit = ranks <= 10
    assert quality.metrics["recall_at_10"] == pytest.approx(hit.mean())
    assert quality.metrics["ndcg_at_10"] == pytest.approx(
        np.where(hit, 1 / np.log2(np.where(hit, ranks, 1) + 1), 0).mean()
    )
    assert quality.metrics["mrr_at_10"] == pytest.approx(np.where(hit, 1 / np.where(hit, ranks, 1), 0).mean())
    assert quality.bad == (hit.mean() < 0.5) and quality.metrics["test_events"] == 300


def _window(lists: list[tuple[str, ...]], truths: list[str]) -> Window:
    """Recommendations with these lists, each joined with the item its user went to next."""
    rows = [_rec(f"e{i}", "u", 0.0, items) for i, items in enumerate(lists)]
    return Window(0, rows=rows, joined=[Joined(r.scored, t) for r, t in zip(rows, truths, strict=True)])


def _training(n: int = 500) -> tuple[dict[str, float], np.ndarray]:
    rng = np.random.default_rng(1)
    counts = np.sort(np.round(100 * rng.lognormal(0.0, 1.0, n)))[::-1]  # the simulator's spread
    return popularity_of(
        {"popularity": {"items": [f"i{k}" for k in range(n)], "counts": counts.tolist()}}
    ), counts


def _draw(
    rng: np.random.Generator, weights: np.ndarray, boosted: np.ndarray, size: tuple[int, ...]
) -> np.ndarray:
    p = weights / weights.sum()
    p = np.where(boosted, p * np.exp(2.0), p)  # the simulator's shift: log popularity + 2
    return rng.choice(len(p), size=size, p=p / p.sum())


@pytest.mark.parametrize("what", ["recommended", "interacted"])
def test_a_shift_in_what_is_recommended_or_interacted_with_is_a_popularity_drift(what: str) -> None:
    rng = np.random.default_rng(2)
    table, counts = _training()
    none = np.zeros(500, bool)
    boosted = np.zeros(500, bool)
    boosted[rng.choice(500, 50, replace=False)] = True  # 10% of the items, at random

    def lists(n: int, shift: bool) -> list[tuple[str, ...]]:
        tail = np.arange(500) >= 450  # recommendations pushed to training's long tail
        drawn = _draw(rng, counts, tail if shift else none, (n, 30))
        return [tuple(dict.fromkeys(f"i{k}" for k in row))[:10] for row in drawn]

    source = lists(3_000, False)
    inputs = Reference.from_matrix(recommended_popularity(source, table), [POPULARITY], "training")
    scores = Reference.from_matrix(np.full((3_000, 1), 0.5), ["score"], "training")
    for shifted in (False, True):
        live = lists(2_000, shifted and what == "recommended")
        truths = [
            f"i{k}"
            for k in _draw(rng, counts, boosted if shifted and what == "interacted" else none, (2_000,))
        ]
        window = _window(live, truths)
        found = window_popularity(window, inputs, table, Checks().drift_threshold)
        (pop,) = [f for f in assess(window, inputs, scores, Checks(), found) if f.kind == "popularity_drift"]
        assert pop.bad == shifted, pop
        named = {d.name for d in pop.drifted}
        assert named == ({POPULARITY if what == "recommended" else "interacted_items"} if shifted else set())
        assert pop.metrics["coverage"] == pytest.approx(len({i for items in live for i in items}) / 500)


def test_recommendations_and_interactions_are_read_as_the_declaration_names_them() -> None:
    doc = {
        "interaction_id": "u1-7",
        "user_id": "u1",
        "event_time": "1998-01-01T00:00:00+00:00",
        "items": [{"item": "b", "rank": 2, "score": 0.2}, {"item": "a", "rank": 1, "score": 0.9}],
        "model_version": "v3",
        "latency_ms": {"total": 4.0, "end_to_end": 12.0},
    }
    row = parse_recommendation(orjson.dumps(doc), FIELDS)
    assert row.scored.items == ("a", "b") and row.scored.score == 0.9 and row.scored.model_version == "v3"
    assert (row.end_to_end_ms, row.scorer_ms, row.inputs) == (12.0, 4.0, ())
    empty = parse_recommendation(orjson.dumps(doc | {"items": []}), FIELDS)
    assert empty.scored.items == () and math.isnan(empty.scored.score)
    event = parse_interaction(
        orjson.dumps(
            {"interaction_id": "u1-8", "user_id": "u1", "item_id": "c", "event_time": doc["event_time"]}
        ),
        InteractionFields("interaction_id", "user_id", "event_time", "item_id"),
    )
    assert event == Interaction("u1", "u1-8", "c", 883612800.0)
