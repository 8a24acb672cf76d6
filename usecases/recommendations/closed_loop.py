"""The simulator's closed loop, offline: a week of organic views, the recommender (retrieval and
ranker) trained on them, then one top-10 list per user from it, from popularity and at random, each
shown to the simulated users, whose clicks follow the simulator's click model; CTR per policy with its
95% interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from usecases.recommendations.evaluation import K, requests
from usecases.recommendations.offline import Catalog, fit, recommend, user_inputs
from usecases.recommendations.simulator import SimConfig, World, organic

__all__ = ["Ctr", "closed_loop"]


@dataclass(frozen=True)
class Ctr:
    """Clicks over impressions, with the normal approximation's 95% interval."""

    clicks: int
    shown: int

    @property
    def rate(self) -> float:
        return self.clicks / self.shown

    @property
    def interval(self) -> tuple[float, float]:
        half = 1.96 * np.sqrt(self.rate * (1.0 - self.rate) / self.shown)
        return self.rate - half, self.rate + half


def closed_loop(config: SimConfig, share: float = 0.1, n: int = 100) -> dict[str, Ctr]:
    """CTR of the recommender, popularity and random top-K lists, one list per user at the end of the
    week (after the user's last view)."""
    import onnxruntime as ort

    world = World(config)
    views = organic(world)
    wanted = requests(views)
    rng = np.random.default_rng(config.seed)
    sample = [r.at for r in wanted if rng.random() < share]
    truth = {r.at: r.truth for r in wanted}
    fitted = fit(views, Catalog.plain(config.items), user_inputs(views, sample), truth, n, K, config.seed)
    session = ort.InferenceSession(fitted.onnx, providers=["CPUExecutionProvider"])
    ends = views.groupby("user").tail(1).index.sort_values()
    served_users, ranked = [], []
    for batch in user_inputs(views, ends):
        got = recommend(session, batch)
        if min(map(len, got)) < K:
            raise ValueError(f"a user has fewer than {K} unseen candidates: simulate more items")
        served_users.append(views["user"].to_numpy()[batch.at])
        ranked.append(np.array([[int(i) for i in row] for row in got]))
    who = np.concatenate(served_users)
    lists = {
        "ranker": np.concatenate(ranked),
        "popularity": _popular(views, who, config.items),
        "random": _random(views, who, config),
    }
    return {name: _shown(world, who, items) for name, items in lists.items()}


def _seen(views: pd.DataFrame, who: NDArray[np.int64], items: int) -> NDArray[np.bool_]:
    seen = np.zeros((len(who), items), dtype=bool)
    row = pd.Series(np.arange(len(who)), index=who)
    mine = views[views["user"].isin(who)]
    seen[row[mine["user"]].to_numpy(), mine["item"].to_numpy()] = True
    return seen


def _popular(views: pd.DataFrame, who: NDArray[np.int64], items: int) -> NDArray[np.int64]:
    """Each user's K most viewed items of the week that they have not seen (ties: the smaller id)."""
    counts = np.bincount(views["item"], minlength=items).astype(np.float64)
    scores = np.where(_seen(views, who, items), -1.0, counts[None, :])
    return np.argsort(-scores, axis=1, kind="stable")[:, :K]


def _random(views: pd.DataFrame, who: NDArray[np.int64], config: SimConfig) -> NDArray[np.int64]:
    """K items each user has not seen, drawn at random."""
    noise = np.random.default_rng(config.seed + 1).random((len(who), config.items))
    noise[_seen(views, who, config.items)] = -1.0
    return np.argsort(-noise, axis=1)[:, :K]


def _shown(world: World, who: NDArray[np.int64], items: NDArray[np.int64]) -> Ctr:
    clicks = world.respond(who, items)
    return Ctr(int(clicks.sum()), int(clicks.size))
