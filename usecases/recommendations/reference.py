"""The reference replay: each request's candidates and their inputs, point in time, from one pass over
the interactions in time order. It is what training learns from offline and the yardstick the
streaming features must equal.

Candidates: the N items the user has not seen with the most co-visitation (next to one of the user's
last five items in any history so far), then the most within five steps, then the most popular, then
the smaller id (that order is also the ranker's tie-break). Inputs per candidate: `FEATURES`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from usecases.recommendations.evaluation import MAX_DENSE_ITEMS, Request, requests

__all__ = ["FEATURES", "Batch", "Catalog", "replay"]

FEATURES = (
    "covis_last5",  # adjacent co-visitation with the user's last five items
    "covis_last1",  # … with the last item only
    "covis_window5",  # co-visitation within five steps, weighted 0.8 per step
    "log_popularity",  # interactions so far
    "log_recent_popularity",  # interactions, decayed with a 3-day e-folding time
    "genre_affinity",  # the user's genre histogram · the item's genres
    "year",  # release year − 1990, in decades
    "log_history",  # the user's interactions so far
    "covis_vs_best",  # log(1 + covis_last5) − log(1 + the best candidate's)
    "covis_share",  # covis_last5 / (1 + the candidates' total)
    "window_share",  # covis_window5 / (1 + the candidates' total)
)
_LAST, _WINDOW, _DECAY, _RECENT_S = 5, 5, 0.8, 3 * 86_400.0


@dataclass(frozen=True)
class Catalog:
    """The items (their ids, sorted), each one's genre weights (a row sums to 1, or 0 without genres) and
    year."""

    ids: NDArray[np.int64]
    genres: NDArray[np.float64]
    year: NDArray[np.float64]

    @classmethod
    def of(cls, items: pd.DataFrame) -> Catalog:
        """From `load_items`' frame (item, genres, year); an unknown year counts as 1990."""
        frame = items.sort_values("item")
        names = sorted({g for gs in frame["genres"] for g in gs})
        genres = np.zeros((len(frame), max(len(names), 1)))
        for row, gs in enumerate(frame["genres"]):
            for g in gs:
                genres[row, names.index(g)] = 1.0 / len(gs)
        year = frame["year"].astype("Float64").fillna(1990.0).to_numpy(dtype=np.float64)
        return cls(frame["item"].to_numpy(dtype=np.int64), genres, year)


@dataclass(frozen=True)
class Batch:
    """Up to `size` requests: their interaction index, yardstick flag, candidates (catalog positions,
    in candidate order), which are real (a user may have fewer unseen items than N), their inputs
    [requests, N, FEATURES] and the truth's position among them (-1: not a candidate)."""

    at: NDArray[np.int64]
    yardstick: NDArray[np.bool_]
    candidates: NDArray[np.int64]
    valid: NDArray[np.bool_]
    x: NDArray[np.float32]
    truth: NDArray[np.int64]


def replay(
    interactions: pd.DataFrame,
    catalog: Catalog,
    n: int = 100,
    keep: NDArray[np.bool_] | None = None,
    size: int = 4_096,
    open_ends: bool = False,
) -> Iterator[Batch]:
    """The requests of `interactions` (time order: user, item, time) in batches; `keep` (one flag per
    request, in time order) leaves the others out of the batches but not out of the state. With
    `open_ends`, each user's last interaction too, as a request whose next item is not known yet
    (truth -1): what a recommendation is served for at the end of the stream."""
    frame = interactions.reset_index(drop=True)
    index = {int(item): i for i, item in enumerate(catalog.ids)}
    items = frame["item"].map(index).to_numpy()
    if np.isnan(items.astype(np.float64)).any():
        raise ValueError("an interaction names an item the catalog lacks")
    times = frame["time"].astype("int64").to_numpy() / 1e9
    wanted = requests(frame)
    keep = np.ones(len(wanted), dtype=bool) if keep is None else keep
    todo: dict[int, tuple[Request | None, bool]] = {
        r.at: (r, bool(k)) for r, k in zip(wanted, keep, strict=True)
    }
    if open_ends:
        todo |= {int(at): (None, True) for at in frame.groupby("user").tail(1).index}
    m = len(catalog.ids)
    if m > MAX_DENSE_ITEMS:
        raise ValueError(
            f"{m} items: the reference replay holds items × items matrices (≤ {MAX_DENSE_ITEMS})"
        )
    adjacent = np.zeros((m, m), dtype=np.float32)
    window = np.zeros((m, m), dtype=np.float32)
    popularity, recent = np.zeros(m), np.zeros(m)
    history: dict[int, list[int]] = {}
    taste: dict[int, NDArray[np.float64]] = {}
    last_time = times[0] if len(times) else 0.0
    rows: list[tuple[int, bool, NDArray[np.int64], NDArray[np.bool_], NDArray[np.float32], int]] = []
    for at, (user, item, t) in enumerate(zip(frame["user"].to_numpy(), items, times, strict=True)):
        seq = history.setdefault(int(user), [])
        for back in range(1, min(_WINDOW, len(seq)) + 1):
            other, weight = seq[-back], _DECAY ** (back - 1)
            window[other, item] += weight
            window[item, other] += weight
        if seq:
            adjacent[seq[-1], item] += 1.0
            adjacent[item, seq[-1]] += 1.0
        recent *= np.exp(-(t - last_time) / _RECENT_S)
        last_time = t
        recent[item] += 1.0
        popularity[item] += 1.0
        seq.append(int(item))
        taste[int(user)] = taste.get(int(user), 0.0) + catalog.genres[item]
        pending = todo.get(at)
        if pending is None or not pending[1]:
            continue
        request = pending[0]
        rows.append(
            (
                at,
                request is not None and request.yardstick,
                *_candidates(seq, taste[int(user)], adjacent, window, popularity, recent, catalog, n),
                -1 if request is None else index[request.truth],
            )
        )
        if len(rows) == size:
            yield _batch(rows, n)
            rows = []
    if rows:
        yield _batch(rows, n)


def _candidates(
    seq: list[int],
    taste: NDArray[np.float64],
    adjacent: NDArray[np.float32],
    window: NDArray[np.float32],
    popularity: NDArray[np.float64],
    recent: NDArray[np.float64],
    catalog: Catalog,
    n: int,
) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.float32]]:
    last = seq[-_LAST:]
    a5 = adjacent[last].sum(axis=0, dtype=np.float64)
    a1 = adjacent[seq[-1]].astype(np.float64)
    w5 = window[last].sum(axis=0, dtype=np.float64)
    order = np.lexsort((np.arange(len(a5)), -popularity, -w5, -a5))
    seen = np.zeros(len(a5), dtype=bool)
    seen[seq] = True
    c = order[~seen[order]][:n]
    x = np.stack(
        [
            a5[c],
            a1[c],
            w5[c],
            np.log1p(popularity[c]),
            np.log1p(recent[c]),
            catalog.genres[c] @ (taste / len(seq)),
            (catalog.year[c] - 1990.0) / 10.0,
            np.full(len(c), np.log1p(len(seq))),
            np.log1p(a5[c]) - np.log1p(a5[c].max(initial=0.0)),
            a5[c] / (1.0 + a5[c].sum()),
            w5[c] / (1.0 + w5[c].sum()),
        ],
        axis=1,
    )
    padded = np.zeros((n, len(FEATURES)), dtype=np.float32)
    padded[: len(c)] = x
    valid = np.arange(n) < len(c)
    return np.pad(c, (0, n - len(c))).astype(np.int64), valid, padded


def _batch(
    rows: list[tuple[int, bool, NDArray[np.int64], NDArray[np.bool_], NDArray[np.float32], int]], n: int
) -> Batch:
    candidates = np.stack([r[2] for r in rows])
    valid = np.stack([r[3] for r in rows])
    truths = np.array([r[5] for r in rows], dtype=np.int64)
    hit = (candidates == truths[:, None]) & valid
    return Batch(
        at=np.array([r[0] for r in rows], dtype=np.int64),
        yardstick=np.array([r[1] for r in rows], dtype=bool),
        candidates=candidates,
        valid=valid,
        x=np.stack([r[4] for r in rows]),
        truth=np.where(hit.any(axis=1), hit.argmax(axis=1), -1).astype(np.int64),
    )
