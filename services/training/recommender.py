"""A ranking model trained end to end: retrieval's tables from training interactions over an item
catalog, the ranker on the candidates of training requests, the one ONNX graph, and the truth's rank in
what it recommends."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.common.errors import ConfigError
from services.common.ranking import CANDIDATE_COUNT, ITEMS
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

__all__ = ["Batch", "Fitted", "ItemCatalog", "fit_recommender", "rank_in", "recommend"]

Feed = dict[str, NDArray[np.object_]]


@dataclass(frozen=True)
class ItemCatalog:
    """Items (ids in order), each one's attribute weights (a row sums to 1, or 0 without any) and
    numbers (columns the ranker reads as they are)."""

    ids: tuple[str, ...]
    attributes: NDArray[np.float64]
    numbers: NDArray[np.float64]

    @classmethod
    def plain(cls, ids: Iterable[str]) -> ItemCatalog:
        """Items with no attributes and no numbers, sorted."""
        order = tuple(sorted(set(ids)))
        return cls(order, np.zeros((len(order), 1)), np.zeros((len(order), 0)))

    def covering(self, items: Iterable[str]) -> ItemCatalog:
        """This catalog with the items it lacks appended (no attributes; numbers the catalog's mean), so
        every interacted item has a row."""
        known = set(self.ids)
        extra = sorted(set(items) - known)
        if not extra:
            return self
        mean = self.numbers.mean(axis=0) if len(self.ids) else np.zeros(self.numbers.shape[1])
        return ItemCatalog(
            self.ids + tuple(extra),
            np.vstack([self.attributes, np.zeros((len(extra), self.attributes.shape[1]))]),
            np.vstack([self.numbers, np.tile(mean, (len(extra), 1))]),
        )

    def tables(self, users: Sequence[str], items: Sequence[str], times: NDArray[np.float64]) -> ItemTables:
        """Retrieval's tables from interactions in time order (user, item, seconds) over this catalog."""
        return item_tables(users, items, times, self.ids, self.attributes, self.numbers)


@dataclass(frozen=True)
class Batch:
    """Requests: the model's inputs (list name → padded string tensor) and each one's next item."""

    feed: Feed
    truth: Sequence[str]


@dataclass(frozen=True)
class Fitted:
    """The recommender's ONNX bytes, what retrieval learnt and how many candidate rows trained the ranker."""

    onnx: bytes
    tables: ItemTables
    training_rows: int


def fit_recommender(
    tables: ItemTables, batches: Iterable[Batch], n: int, k: int, recent: str, seen: str, seed: int = 0
) -> Fitted:
    """The ranker on the candidates of the requests whose next item is among them (1 for it, 0 for the
    others), inside the recommender graph with retrieval; ConfigError when no request has its next item
    among its candidates."""
    import onnxruntime as ort

    retrieval = ort.InferenceSession(
        retrieval_onnx(tables, n, recent, seen), providers=["CPUExecutionProvider"]
    )
    position = {item: i for i, item in enumerate(tables.ids)}
    xs, ys = [], []
    for batch in batches:
        items, valid, x = retrieval.run([CANDIDATE_ITEMS, VALID, CANDIDATE_INPUTS], batch.feed)
        want = np.array([position.get(t, -1) for t in batch.truth])[:, None]
        label = (items == want) & valid
        has = label.any(axis=1)
        xs.append(x[has][valid[has]])
        ys.append(label[has][valid[has]].astype(int))
    y = np.concatenate(ys) if ys else np.zeros(0, int)
    if not y.any():
        raise ConfigError(
            "no training request has its next item among its candidates: train on a longer window"
        )
    ranker = fit_ranker(np.concatenate(xs), y, seed=seed)
    return Fitted(recommender_onnx(tables, ranker, n, k, recent, seen), tables, len(y))


def recommend(session: Any, feed: Feed) -> list[list[str]]:
    """The recommendations of a batch of requests, best first (at most k; fewer when fewer candidates)."""
    items, count = session.run([ITEMS, CANDIDATE_COUNT], feed)
    return [list(row[: int(c)]) for row, c in zip(items, count, strict=True)]


def rank_in(truth: str, recommended: Sequence[str]) -> float:
    """The truth's 1-based rank in a recommendation list (inf when it is not there)."""
    return float(list(recommended).index(truth) + 1) if truth in recommended else float("inf")
