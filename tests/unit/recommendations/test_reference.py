"""The reference replay's candidates and inputs on streams small enough to follow by hand, and the
ranks the offline measurement reads from a ranker's scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from usecases.recommendations.quality import training_rows, truth_ranks
from usecases.recommendations.reference import FEATURES, Batch, Catalog, replay

ITEMS = pd.DataFrame(
    {
        "item": [10, 20, 30, 40, 50],
        "genres": [["Drama"], ["Drama"], ["Drama", "War"], ["War"], ["Comedy"]],
        "year": pd.array([1995, 1980, None, 1990, 2000], dtype="Int64"),
    }
)
CATALOG = Catalog.of(ITEMS)


def stream(*rows: tuple[str, int]) -> pd.DataFrame:
    times = pd.Timestamp("1998-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(rows)), unit="h")
    return pd.DataFrame({"user": [int(u[1:]) for u, _ in rows], "item": [i for _, i in rows], "time": times})


FRAME = stream(("u9", 50), ("u8", 50), ("u1", 10), ("u1", 20), ("u2", 10), ("u2", 20), ("u1", 50))


def test_candidates_are_unseen_items_by_co_visitation_then_popularity_then_id() -> None:
    [batch] = replay(FRAME, CATALOG, n=5)
    assert batch.at.tolist() == [2, 3, 4] and batch.yardstick.tolist() == [False, True, True]
    ids = CATALOG.ids[batch.candidates[2]][batch.valid[2]]
    assert ids.tolist() == [20, 50, 30, 40]  # u2 after 10: 20 was next to 10; 50 the most popular
    assert batch.truth.tolist() == [1, 0, 0]  # u1 after 10 → 20 (behind 50); after 20 → 50; u2 → 20
    assert CATALOG.ids[batch.candidates[1]][batch.valid[1]].tolist() == [50, 30, 40]


def test_the_inputs_of_a_candidate_at_its_request() -> None:
    [batch] = replay(FRAME, CATALOG, n=5)
    got = dict(zip(FEATURES, batch.x[2, 0].tolist(), strict=True))  # u2 after 10, candidate 20
    assert got == pytest.approx(
        {
            "covis_last5": 1.0,
            "covis_last1": 1.0,
            "covis_window5": 1.0,
            "log_popularity": np.log1p(1.0),
            "log_recent_popularity": np.log1p(1.0),  # its only interaction is 1 h old: decayed a bit
            "genre_affinity": 1.0,  # u2 saw one Drama; 20 is a Drama
            "year": -1.0,  # 1980
            "log_history": np.log1p(1.0),
            "covis_vs_best": 0.0,
            "covis_share": 0.5,
            "window_share": 0.5,
        },
        rel=0.02,
    )
    assert batch.x[2, 2, FEATURES.index("year")] == 0.0  # 30's unknown year counts as 1990
    assert batch.x[2, 2, FEATURES.index("genre_affinity")] == pytest.approx(0.5)
    assert not batch.x[2, 4].any()  # padding


def test_a_request_sees_nothing_that_came_after_it_and_keep_only_thins_the_batches() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "user": rng.integers(0, 15, 300),
            "item": rng.choice([10, 20, 30, 40, 50], 300),
            "time": pd.Timestamp("1998-01-01", tz="UTC") + pd.to_timedelta(np.arange(300), unit="min"),
        }
    )
    full = _joined(replay(frame, CATALOG, n=4, size=50))
    prefix = _joined(replay(frame.iloc[:200], CATALOG, n=4, size=50))
    shared = np.isin(full.at, prefix.at)
    assert shared.sum() == len(prefix.at) > 100
    np.testing.assert_array_equal(full.candidates[shared], prefix.candidates)
    np.testing.assert_array_equal(full.x[shared], prefix.x)
    keep = np.zeros(len(full.at), dtype=bool)
    keep[::7] = True
    thinned = _joined(replay(frame, CATALOG, n=4, keep=keep))
    np.testing.assert_array_equal(thinned.x, full.x[keep])


def _joined(batches: object) -> Batch:
    parts = list(batches)  # type: ignore[call-overload]
    return Batch(*(np.concatenate([getattr(b, f) for b in parts]) for f in Batch.__dataclass_fields__))


def test_ranks_follow_the_scores_then_the_candidate_order() -> None:
    batch = Batch(
        at=np.arange(3),
        yardstick=np.ones(3, dtype=bool),
        candidates=np.zeros((3, 4), dtype=np.int64),
        valid=np.array([[True] * 4, [True, True, False, True], [True] * 4]),
        x=np.zeros((3, 4, len(FEATURES)), dtype=np.float32),
        truth=np.array([2, 3, -1]),
    )
    scores = np.array([[0.9, 0.5, 0.5, 0.1], [0.2, 0.3, 0.9, 0.25], [1, 1, 1, 1]], dtype=np.float32)
    assert truth_ranks(batch, scores).tolist() == [3.0, 2.0, np.inf]  # an invalid one never counts
    x, y = training_rows([batch])
    assert len(x) == 4 + 3 and y.tolist() == [0, 0, 1, 0, 0, 0, 1]


def test_open_ends_serve_each_users_last_interaction_without_a_truth() -> None:
    none = np.zeros(3, dtype=bool)
    [batch] = replay(FRAME, CATALOG, n=5, keep=none, open_ends=True)
    assert batch.at.tolist() == [0, 1, 5, 6]  # u9, u8, u2, u1: each user's last interaction, in time order
    assert batch.truth.tolist() == [-1] * 4 and not batch.yardstick.any()
    u1 = CATALOG.ids[batch.candidates[3]][batch.valid[3]]
    assert u1.tolist() == [30, 40]  # u1 saw 10, 20 and 50
