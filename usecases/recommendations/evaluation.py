"""The sequential-recommendation protocol (pure): every interaction is a request for the user's next item,
ranked over the whole catalog with the user's seen items excluded, and recall / NDCG / MRR at k; with
the popularity and point-in-time co-visitation baselines and RecBole's published results.

The yardstick is each user's last interaction (leave-one-out in time order, RecBole's sequential
split): the request is the user's interaction before it, and all the other interactions are the training
split. Ties in a ranking go to the more popular item (interactions so far), then to the smaller id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from services.common.evaluation import ranking_metrics

__all__ = [
    "MAX_DENSE_ITEMS",
    "PUBLISHED",
    "K",
    "Ranks",
    "Request",
    "baselines",
    "rank_of",
    "requests",
    "summary",
]

K = 10
# RecBole's sequential results on ML-100K, this protocol (recall@10, NDCG@10, MRR@10).
PUBLISHED: dict[str, tuple[float, float, float]] = {"published: GRU4Rec (RecBole)": (0.1103, 0.0513, 0.0337)}
MAX_DENSE_ITEMS = 8_000  # the co-visitation state here is an items × items matrix


@dataclass(frozen=True)
class Request:
    """The request at interaction `at` (its index in time order): `truth` is the user's next item."""

    at: int
    user: int
    truth: int
    yardstick: bool  # the truth is the user's last interaction


def requests(interactions: pd.DataFrame) -> list[Request]:
    """Every interaction with a next one by the same user, in time order."""
    frame = interactions.reset_index(drop=True)
    nxt = frame.groupby("user")["item"].shift(-1)
    has_next = nxt.notna().to_numpy()
    after_next = frame.groupby("user")["item"].shift(-2).isna().to_numpy()
    return [
        Request(int(i), int(u), int(t), bool(y))
        for i, u, t, y in zip(
            np.flatnonzero(has_next),
            frame["user"].to_numpy()[has_next],
            nxt.to_numpy()[has_next],
            after_next[has_next],
            strict=True,
        )
    ]


def rank_of(
    truth: int, scores: NDArray[np.float64], popularity: NDArray[np.float64], seen: set[int]
) -> float:
    """The truth's 1-based rank among the items not in `seen` (inf when the truth itself was seen):
    higher score first, then the more popular, then the smaller index."""
    if truth in seen:
        return float("inf")
    s, p = scores[truth], popularity[truth]
    better = (scores > s) | (
        (scores == s) & ((popularity > p) | ((popularity == p) & (np.arange(len(scores)) < truth)))
    )
    if seen:
        better[list(seen)] = False
    return float(better.sum() + 1)


@dataclass(frozen=True)
class Ranks:
    """The truth's rank per request (inf: the user had seen it), and which requests are the yardstick."""

    ranks: NDArray[np.float64]
    yardstick: NDArray[np.bool_]


def summary(ranks: NDArray[np.float64], k: int = K) -> dict[str, float]:
    """recall@k, NDCG@k and MRR@k of ranks (one relevant item per request): the loop's own definitions
    (`ranking_metrics`, which training and the monitor use)."""
    frame = pd.DataFrame({"rank": ranks})
    return {name.replace("_at_", "@"): metric(frame) for name, metric in ranking_metrics(k).items()}


def baselines(
    interactions: pd.DataFrame, catalog: Iterable[int] | None = None, last: int = 5
) -> dict[str, Ranks]:
    """Popularity and co-visitation, point in time: replayed in time order, each request is ranked with
    the interactions up to and including its own. Co-visitation scores an item by how often it was next
        to (just before or just after) one of the user's `last` items in any user's history so far. The
    ranking is over `catalog` (default: the items of `interactions`)."""
    frame = interactions.reset_index(drop=True)
    items_all = frame["item"].unique() if catalog is None else np.fromiter(catalog, dtype=np.int64)
    index = {int(item): i for i, item in enumerate(sorted(items_all))}
    n = len(index)
    if n > MAX_DENSE_ITEMS:
        raise ValueError(
            f"{n} items: the co-visitation baseline holds an items × items matrix (≤ {MAX_DENSE_ITEMS})"
        )
    items = frame["item"].map(index).to_numpy()
    users = frame["user"].to_numpy()
    wanted = {r.at: r for r in requests(frame)}
    popularity = np.zeros(n)
    co = np.zeros((n, n), dtype=np.float32)
    history: dict[int, list[int]] = {}
    out: dict[str, list[float]] = {"popularity": [], "co-visitation": []}
    yard: list[bool] = []
    for at, (user, item) in enumerate(zip(users, items, strict=True)):
        seq = history.setdefault(int(user), [])
        if seq:
            co[seq[-1], item] += 1.0
            co[item, seq[-1]] += 1.0
        popularity[item] += 1.0
        seq.append(int(item))
        request = wanted.get(at)
        if request is None:
            continue
        truth, seen = index[request.truth], set(seq)
        out["popularity"].append(rank_of(truth, popularity, popularity, seen))
        out["co-visitation"].append(
            rank_of(truth, co[seq[-last:]].sum(axis=0, dtype=np.float64), popularity, seen)
        )
        yard.append(request.yardstick)
    mask = np.array(yard, dtype=bool)
    return {name: Ranks(np.array(r, dtype=np.float64), mask) for name, r in out.items()}
