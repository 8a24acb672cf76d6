"""The recommender offline, as the loop serves it: each request's user inputs point in time (the user's
recent and seen items, what the declared user view gives the scorer), co-visitation retrieval learnt
on the training interactions, the ranker trained on a sample of the training requests' candidates, and
the ONNX recommender's top k for any requests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from services.common.ranking import CANDIDATE_COUNT, ITEMS, padded
from services.common.usecase import load_usecase
from services.training.ranker import fit_ranker
from services.training.retrieval import (
    CANDIDATE_INPUTS,
    CANDIDATE_ITEMS,
    VALID,
    ItemTables,
    item_tables,
    recommender_onnx,
    retrieval_onnx,
)

__all__ = ["CANDIDATES", "RECENT", "SEEN", "Catalog", "Fitted", "Inputs", "fit", "recommend", "user_inputs"]


def _declared() -> tuple[str, str, int, int, int]:
    """The recommender's inputs as the declaration names them (the user view's lists: recent items,
    seen items), how many items each keeps, and how many candidates the model ranks."""
    declared = load_usecase("recommendations")
    ranking, user = declared.model.ranking, declared.features.views[0]
    assert ranking is not None  # the schema makes a ranking model say it
    n = {a.name: a.n or 0 for a in user.aggregations if a.function == "last"}
    return ranking.recent, ranking.seen, n[ranking.recent], n[ranking.seen], ranking.candidates


RECENT, SEEN, _RECENT_N, _SEEN_N, CANDIDATES = _declared()


@dataclass(frozen=True)
class Catalog:
    """The items (ids, sorted), each one's genre weights (a row sums to 1, or 0 without genres) and
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

    @classmethod
    def plain(cls, items: int) -> Catalog:
        """Items 0 … items − 1 with no genres and one year (the simulator's)."""
        return cls(np.arange(items), np.zeros((items, 1)), np.full(items, 1990.0))

    def tables(self, interactions: pd.DataFrame) -> ItemTables:
        """Retrieval's tables from interactions in time order (user, item, time); the year in decades
        from 1990 is the items' one number."""
        times = interactions["time"].astype("int64").to_numpy() / 1e9
        return item_tables(
            interactions["user"].astype(str).tolist(),
            interactions["item"].astype(str).tolist(),
            times,
            catalog=[str(i) for i in self.ids],
            attributes=self.genres,
            numbers=((self.year - 1990.0) / 10.0)[:, None],
        )


@dataclass(frozen=True)
class Inputs:
    """Requests at these interaction indexes: each user's recent and seen items up to and including
    the interaction itself, as the scorer feeds them (`padded`)."""

    at: NDArray[np.int64]
    recent: NDArray[np.object_]
    seen: NDArray[np.object_]

    def feed(self) -> dict[str, NDArray[np.object_]]:
        return {RECENT: self.recent, SEEN: self.seen}


def user_inputs(interactions: pd.DataFrame, at: Sequence[int], size: int = 1_024) -> Iterator[Inputs]:
    """The inputs of the requests at interaction indexes `at` (time order), in batches of `size`."""
    wanted = set(int(i) for i in at)
    history: dict[str, list[str]] = {}
    rows: list[tuple[int, list[str]]] = []
    users = interactions["user"].astype(str).tolist()
    for i, (user, item) in enumerate(zip(users, interactions["item"].astype(str).tolist(), strict=True)):
        seq = history.setdefault(user, [])
        seq.append(item)
        if i in wanted:
            rows.append((i, seq[-_SEEN_N:]))
            if len(rows) == size:
                yield _padded(rows)
                rows = []
    if rows:
        yield _padded(rows)


def _padded(rows: list[tuple[int, list[str]]]) -> Inputs:
    at = np.array([i for i, _ in rows], dtype=np.int64)
    return Inputs(at, padded([seq[-_RECENT_N:] for _, seq in rows]), padded([seq for _, seq in rows]))


@dataclass(frozen=True)
class Fitted:
    """The recommender's ONNX bytes, what retrieval learnt and how many rows trained the ranker."""

    onnx: bytes
    tables: ItemTables
    training_rows: int


def fit(
    training: pd.DataFrame,
    catalog: Catalog,
    requests: Iterator[Inputs],
    truth: dict[int, int],
    n: int = CANDIDATES,
    k: int = 10,
    seed: int = 0,
) -> Fitted:
    """Retrieval from `training` (time order), the ranker on the candidates of `requests` whose next
    item (`truth`: interaction index → item) is among them (1 for it, 0 for the others)."""
    import onnxruntime as ort

    tables = catalog.tables(training)
    retrieval = ort.InferenceSession(
        retrieval_onnx(tables, n, RECENT, SEEN), providers=["CPUExecutionProvider"]
    )
    position = {int(item): i for i, item in enumerate(catalog.ids)}
    xs, ys = [], []
    for batch in requests:
        items, valid, x = retrieval.run([CANDIDATE_ITEMS, VALID, CANDIDATE_INPUTS], batch.feed())
        want = np.array([position[truth[int(i)]] for i in batch.at])[:, None]
        label = (items == want) & valid
        has = label.any(axis=1)
        xs.append(x[has][valid[has]])
        ys.append(label[has][valid[has]].astype(int))
    x, y = np.concatenate(xs), np.concatenate(ys)
    return Fitted(recommender_onnx(tables, fit_ranker(x, y, seed=seed), n, k, RECENT, SEEN), tables, len(y))


def recommend(session: Any, batch: Inputs) -> list[list[str]]:
    """The recommendations of a batch of requests, best first (at most k; fewer when fewer candidates)."""
    items, count = session.run([ITEMS, CANDIDATE_COUNT], batch.feed())
    return [list(row[: int(c)]) for row, c in zip(items, count, strict=True)]
