"""The simulator's closed loop, offline: a week of organic views, the ranker trained on them, then one
top-10 list per user from the ranker, from popularity and at random, each shown to the simulated users,
whose clicks follow the simulator's click model; CTR per policy with its 95% interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from services.training.ranker import fit_ranker, rank, ranker_onnx
from usecases.recommendations.evaluation import K, requests
from usecases.recommendations.quality import training_rows
from usecases.recommendations.reference import Catalog, replay
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
    """CTR of the ranker, popularity and random top-K lists, one list per user at the end of the week."""
    import onnxruntime as ort

    world = World(config)
    views = organic(world)
    catalog = Catalog(np.arange(config.items), np.zeros((config.items, 1)), np.full(config.items, 1990.0))
    sample = np.random.default_rng(config.seed).random(len(requests(views))) < share
    x, labels = training_rows(replay(views, catalog, n, keep=sample))
    session = ort.InferenceSession(
        ranker_onnx(fit_ranker(x, labels, seed=config.seed), K), providers=["CPUExecutionProvider"]
    )
    none = np.zeros(len(sample), dtype=bool)
    users = views["user"].to_numpy()
    served_users, ranked = [], []
    for batch in replay(views, catalog, n, keep=none, open_ends=True):
        _, _, top = rank(session, batch.x, batch.valid)
        served_users.append(users[batch.at])
        ranked.append(np.take_along_axis(batch.candidates, top, axis=1))
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
