"""The interaction simulator: seeded, views that follow taste and sequence, drift, the click model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from usecases.recommendations.simulator import SimConfig, World, organic

SMALL = SimConfig(users=300, items=120, days=3)


def test_one_config_gives_one_stream_in_time_order() -> None:
    a, b = organic(World(SMALL)), organic(World(SMALL))
    pd.testing.assert_frame_equal(a, b)
    assert not organic(World(SimConfig(users=300, items=120, days=3, seed=1))).equals(a)
    assert a["time"].is_monotonic_increasing and set(a["action"]) == {"view"}
    per_user_day = len(a) / (SMALL.users * SMALL.days)
    assert per_user_day == pytest.approx(SMALL.views_per_user_day, rel=0.1)
    assert a["time"].min() >= pd.Timestamp(SMALL.start)
    assert a["time"].max() < pd.Timestamp(SMALL.start) + pd.Timedelta(days=SMALL.days)


def test_views_follow_taste_popularity_and_the_last_item() -> None:
    world = World(SMALL)
    views = organic(world, days=1)
    taste = np.einsum("ud,ud->u", world.user_vec[views["user"]], world.item_vec[views["item"]])
    assert taste.mean() > 0.1  # random items average 0
    assert world.item_pop[views["item"]].mean() > world.item_pop.mean() + 0.3
    per_user = views.groupby("user")["item"]
    pairs = pd.DataFrame({"a": per_user.shift(1), "b": views["item"]}).dropna().astype(int)
    similar = np.einsum("pd,pd->p", world.item_vec[pairs["a"]], world.item_vec[pairs["b"]])
    assert similar.mean() > 0.1


def test_preferences_drift_at_the_configured_rate_and_keep_their_spread() -> None:
    world = World(SimConfig(users=4_000, drift_per_day=0.05))
    before = world.user_vec.copy()
    world.drift(30)
    cosine = np.einsum("ud,ud->u", before, world.user_vec) / (
        np.linalg.norm(before, axis=1) * np.linalg.norm(world.user_vec, axis=1)
    )
    assert cosine.mean() == pytest.approx(0.95**30, abs=0.03)
    assert np.linalg.norm(world.user_vec, axis=1).mean() == pytest.approx(
        np.linalg.norm(before, axis=1).mean(), rel=0.05
    )
    fixed = World(SimConfig(drift_per_day=0.0))
    still = fixed.user_vec.copy()
    fixed.drift(30)
    np.testing.assert_allclose(fixed.user_vec, still)


def test_shifting_the_popularity_of_ten_percent_of_items_moves_the_views_to_them() -> None:
    world = World(SMALL)
    before = organic(world, days=1)
    shifted = world.shift_popularity(share=0.1, by=2.0)
    after = organic(world, days=1, start_day=1)
    assert len(shifted) == 12
    share = [frame["item"].isin(shifted).mean() for frame in (before, after)]
    assert share[1] > 2 * share[0]


def test_clicks_follow_the_click_model_by_rank_and_by_taste() -> None:
    world = World(SimConfig(users=2_000, items=200))
    users = np.repeat(np.arange(2_000), 10)
    best = np.argsort(-world.affinity(users), axis=1)[:, :5]
    shown_random = world.rng.integers(0, 200, size=(len(users), 5))
    expected = world.click_probability(users, best)
    clicks = world.respond(users, best)
    assert np.all(np.diff(expected.mean(axis=0)) < 0)  # a lower rank is examined less
    sigma = np.sqrt((expected * (1 - expected)).sum()) / expected.size
    assert abs(clicks.mean() - expected.mean()) < 4 * sigma
    assert world.respond(users, shown_random).mean() < 0.5 * clicks.mean()
