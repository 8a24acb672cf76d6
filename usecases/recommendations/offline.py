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

from services.common.ranking import padded
from services.common.usecase import load_usecase
from services.training.recommender import Batch, Fitted, ItemCatalog, fit_recommender
from services.training.recommender import recommend as recommend_feed
from services.training.retrieval import ItemTables

__all__ = [
    "CANDIDATES",
    "RECENT",
    "SEEN",
    "Catalog",
    "Fitted",
    "Inputs",
    "catalog",
    "fit",
    "recommend",
    "user_inputs",
]


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

    def items(self) -> ItemCatalog:
        """As training reads a catalog: ids as text, the genres, the year in decades from 1990."""
        return ItemCatalog(
            tuple(str(i) for i in self.ids), self.genres, ((self.year - 1990.0) / 10.0)[:, None]
        )

    def tables(self, interactions: pd.DataFrame) -> ItemTables:
        """Retrieval's tables from interactions in time order (user, item, time)."""
        times = interactions["time"].astype("int64").to_numpy() / 1e9
        users, items = interactions["user"].astype(str).tolist(), interactions["item"].astype(str).tolist()
        return self.items().tables(users, items, times)


def catalog() -> ItemCatalog | None:
    """The declaration's catalog (`model.ranking.catalog`): ML-100K's items, genres and years from the
    cache when it has been fetched (`rtloop demo --usecase recommendations` fetches it), else None."""
    from services.tools.config import ToolSettings
    from usecases.recommendations.movielens import load_items, verify

    folder = ToolSettings().cache_dir / "data" / "ml-100k"
    return None if verify(folder) else Catalog.of(load_items(folder)).items()


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
    item (`truth`: interaction index → item) is among them."""
    batches = (Batch(b.feed(), [str(truth[int(i)]) for i in b.at]) for b in requests)
    return fit_recommender(catalog.tables(training), batches, n, k, RECENT, SEEN, seed)


def recommend(session: Any, batch: Inputs) -> list[list[str]]:
    """The recommendations of a batch of requests, best first (at most k; fewer when fewer candidates)."""
    return recommend_feed(session, batch.feed())
