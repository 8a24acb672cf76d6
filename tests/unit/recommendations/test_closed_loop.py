"""The simulator's closed loop, offline: the trained ranker's CTR beats popularity's and random's on
10,000 simulated users, with 95% intervals that do not overlap."""

from __future__ import annotations

import pytest

from usecases.recommendations.closed_loop import closed_loop
from usecases.recommendations.simulator import SimConfig

pytestmark = pytest.mark.slow  # ~30 s: a week of 10,000 users, a ranker trained on it


def test_the_rankers_ctr_beats_popularity_and_random_beyond_their_intervals() -> None:
    got = closed_loop(SimConfig(users=10_000, items=500, days=7))
    for name, ctr in got.items():
        low, high = ctr.interval
        print(f"{name}: CTR {ctr.rate:.4f} [{low:.4f}, {high:.4f}] ({ctr.clicks:,} of {ctr.shown:,})")
    assert all(ctr.shown == 10 * 10_000 for ctr in got.values())  # every user got a whole list
    assert got["ranker"].interval[0] > got["popularity"].interval[1]
    assert got["popularity"].interval[0] > got["random"].interval[1]
