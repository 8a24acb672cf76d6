"""A RecoGym-style interaction simulator, written here from RecoGym's published description (Rohde et
al., 2018; Apache-2.0 upstream): users with latent preferences that drift, organic views that follow
taste, popularity and the last item seen, and clicks on recommended items under a known click model.

It is for load, closed-loop CTR and drift tests at any rate and size; MovieLens-100K stays the
yardstick of quality. Everything is seeded: one config gives one stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["SimConfig", "World", "organic"]

DAY_S = 86_400.0


@dataclass(frozen=True)
class SimConfig:
    users: int = 1_000
    items: int = 500
    dim: int = 8
    days: int = 7
    views_per_user_day: float = 3.0
    drift_per_day: float = 0.05  # the share of a user's preference renewed per day (0: fixed tastes)
    popularity_spread: float = 1.0  # the standard deviation of the items' log popularity
    taste: float = 2.0  # how much a user's preference weighs in what they view and click
    sequence: float = 1.5  # how much similarity to the last item viewed weighs in the next view
    click_base: float = -2.5  # the logit of a click on an average item, once examined
    position_decay: float = 0.8  # the chance of examining rank r is position_decay ** r (r from 0)
    seed: int = 0
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)


class World:
    """The latent state at one point in time: user and item vectors, item popularity; the two models."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        d = config.dim
        self.item_vec = self.rng.normal(size=(config.items, d)) / np.sqrt(d)
        self.item_pop = self.rng.normal(scale=config.popularity_spread, size=config.items)
        self.user_vec = self.rng.normal(size=(config.users, d)) / np.sqrt(d)

    def drift(self, days: float) -> None:
        """Renew `drift_per_day` of each preference per day (an Ornstein-Uhlenbeck step: the spread of
        preferences stays the same)."""
        keep = (1.0 - self.config.drift_per_day) ** days
        fresh = self.rng.normal(size=self.user_vec.shape) / np.sqrt(self.config.dim)
        self.user_vec = keep * self.user_vec + np.sqrt(1.0 - keep**2) * fresh

    def shift_popularity(self, share: float = 0.1, by: float = 2.0) -> NDArray[np.int64]:
        """Raise the log popularity of a random `share` of the items by `by`; the items shifted."""
        shifted = self.rng.choice(
            self.config.items, size=max(1, round(share * self.config.items)), replace=False
        )
        self.item_pop[shifted] += by
        return np.sort(shifted)

    def affinity(
        self, users: NDArray[np.int64], items: NDArray[np.int64] | None = None
    ) -> NDArray[np.float64]:
        """taste · (user · item) + popularity, per user × item (all items when `items` is None)."""
        vec = self.item_vec if items is None else self.item_vec[items]
        pop = self.item_pop if items is None else self.item_pop[items]
        if items is not None and items.ndim == 2:
            dot = np.einsum("ud,ukd->uk", self.user_vec[users], vec)
        else:
            dot = self.user_vec[users] @ vec.T
        return np.asarray(self.config.taste * dot + pop, dtype=np.float64)

    def view_logits(self, users: NDArray[np.int64], last: NDArray[np.int64]) -> NDArray[np.float64]:
        """The organic model: the next view is softmax(affinity + sequence · similarity to the last item
        viewed) over all items; `last` is -1 for a user's first view."""
        logits = self.affinity(users)
        has_last = last >= 0
        if has_last.any():
            logits[has_last] += self.config.sequence * (self.item_vec[last[has_last]] @ self.item_vec.T)
        return logits

    def click_probability(self, users: NDArray[np.int64], shown: NDArray[np.int64]) -> NDArray[np.float64]:
        """The click model, per user × shown item (ranks in column order): examined with probability
        position_decay ** rank, then clicked with probability sigmoid(click_base + affinity)."""
        examined = self.config.position_decay ** np.arange(shown.shape[1])
        logit = self.config.click_base + self.affinity(users, shown)
        return examined / (1.0 + np.exp(-logit))

    def respond(self, users: NDArray[np.int64], shown: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Sampled clicks on the recommended lists `shown` (users × k)."""
        return self.rng.random(shown.shape) < self.click_probability(users, shown)

    def sample(self, logits: NDArray[np.float64]) -> NDArray[np.int64]:
        """One item per row of softmax(logits) (the Gumbel-max trick)."""
        chosen: NDArray[np.int64] = np.argmax(logits + self.rng.gumbel(size=logits.shape), axis=1)
        return chosen


def organic(world: World, days: int | None = None, start_day: int = 0) -> pd.DataFrame:
    """Organic views for `days` days (the config's by default) from day `start_day`, in time order:
    user, item, time, action ("view"). Each user views Poisson(views_per_user_day) items a day at
    uniform times; preferences drift once a day. The world's state moves on with the stream."""
    cfg = world.config
    last = np.full(cfg.users, -1)
    frames = []
    for day in range(start_day, start_day + (cfg.days if days is None else days)):
        if day > start_day:
            world.drift(1.0)
        counts = world.rng.poisson(cfg.views_per_user_day, size=cfg.users)
        times = [np.sort(world.rng.uniform(0.0, DAY_S, size=c)) for c in counts]
        for k in range(int(counts.max(initial=0))):  # each user's k-th view of the day, all at once
            users = np.flatnonzero(counts > k)
            items = world.sample(world.view_logits(users, last[users]))
            last[users] = items
            at = np.array([times[u][k] for u in users]) + day * DAY_S
            frames.append(pd.DataFrame({"user": users, "item": items, "t": at}))
    if not frames:
        return pd.DataFrame({"user": [], "item": [], "time": [], "action": []})
    views = pd.concat(frames, ignore_index=True).sort_values("t", kind="stable", ignore_index=True)
    views["time"] = pd.Timestamp(cfg.start) + pd.to_timedelta(views.pop("t"), unit="s")
    views["action"] = "view"
    return views.astype({"user": "int64", "item": "int64"})
