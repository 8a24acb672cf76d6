"""The sequential protocol on streams small enough to rank by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from usecases.recommendations.evaluation import baselines, rank_of, requests, summary


def stream(*rows: tuple[str, int]) -> pd.DataFrame:
    """Interactions (user, item) already in time order."""
    return pd.DataFrame({"user": [int(u[1:]) for u, _ in rows], "item": [i for _, i in rows]})


def test_each_users_last_interaction_is_the_yardstick_and_every_other_one_a_request() -> None:
    frame = stream(("u1", 10), ("u2", 10), ("u1", 20), ("u3", 30), ("u1", 30), ("u2", 40))
    got = [(r.at, r.user, r.truth, r.yardstick) for r in requests(frame)]
    assert got == [(0, 1, 20, False), (1, 2, 40, True), (2, 1, 30, True)]  # u3 has no next interaction


def test_a_rank_skips_seen_items_and_breaks_ties_by_popularity_then_id() -> None:
    scores = np.array([0.0, 2.0, 1.0, 1.0, 1.0, 3.0])
    popularity = np.array([9.0, 0.0, 5.0, 7.0, 5.0, 1.0])
    assert rank_of(2, scores, popularity, set()) == 4  # after 5 and 1 (scores), 3 (more popular)
    assert rank_of(4, scores, popularity, set()) == 5  # 2 ties with it on both: the smaller id first
    assert rank_of(4, scores, popularity, {5, 3}) == 3
    assert rank_of(5, scores, popularity, {5}) == math.inf  # a seen truth is a miss


def test_recall_ndcg_and_mrr_at_k() -> None:
    got = summary(np.array([1.0, 2.0, 11.0, math.inf]), k=10)
    assert got["recall@10"] == pytest.approx(0.5)
    assert got["ndcg@10"] == pytest.approx((1.0 + 1.0 / math.log2(3)) / 4)
    assert got["mrr@10"] == pytest.approx(1.5 / 4)
    assert summary(np.array([1.0, 2.0, 11.0]), k=1)["recall@1"] == pytest.approx(1 / 3)


def test_co_visitation_counts_the_items_next_to_the_users_own_in_other_histories() -> None:
    """50 is the most popular; u1's 10 → 20 makes 20 u2's best guess after 10, not 50."""
    frame = stream(("u9", 50), ("u8", 50), ("u1", 10), ("u1", 20), ("u2", 10), ("u2", 20), ("u1", 50))
    got = baselines(frame)
    assert got["co-visitation"].ranks.tolist() == [2, 1, 1]  # requests at rows 2, 3, 4
    assert got["popularity"].ranks.tolist() == [2, 1, 2]
    assert got["popularity"].yardstick.tolist() == [False, True, True]


def test_co_visitation_is_symmetric() -> None:
    """u1 saw 20 just before 10: 20 is next to 10 for u2 too, ahead of the more popular 30."""
    frame = stream(
        ("u9", 30), ("u8", 30), ("u1", 20), ("u1", 10), ("u2", 10), ("u2", 20), ("u3", 10), ("u3", 30)
    )
    got = baselines(frame)
    assert got["co-visitation"].ranks.tolist() == [2, 1, 2]  # requests at rows 2, 4, 6
    assert got["popularity"].ranks.tolist() == [2, 2, 2]


def test_a_request_is_ranked_with_nothing_that_came_after_it() -> None:
    """The ranks of a stream's requests are the same when the stream goes on past them."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"user": rng.integers(0, 20, 400), "item": rng.integers(0, 30, 400)})
    full, prefix = baselines(frame, range(30)), baselines(frame.iloc[:250], range(30))
    in_prefix = {r.at for r in requests(frame.iloc[:250])}
    shared = [i for i, r in enumerate(requests(frame)) if r.at in in_prefix]
    for name in ("popularity", "co-visitation"):
        assert len(prefix[name].ranks) == len(shared) > 100
        assert full[name].ranks[shared].tolist() == prefix[name].ranks.tolist()
