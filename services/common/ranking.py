"""The ranking models' interface, shared by training (which builds them), the scorer (which feeds them)
and the monitor: inputs are lists of item ids as string tensors, outputs the best items, their scores
and how many candidates were ranked; the popularity statistic whose drift is watched."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CANDIDATE_COUNT",
    "ITEMS",
    "ITEM_SCORES",
    "POPULARITY",
    "padded",
    "popularity_of",
    "recommended_popularity",
]

# outputs: [batch, k] string (best first), [batch, k] float, [batch] int64 (only the first
# min(k, count) items of a row are recommendations)
ITEMS, ITEM_SCORES, CANDIDATE_COUNT = "items", "item_scores", "candidate_count"
# the monitor's drift input of a ranking model: a list's mean item popularity, log(1 + training count)
POPULARITY = "recommended_popularity"


def padded(lists: Sequence[Sequence[str]]) -> NDArray[np.object_]:
    """Lists of item ids (oldest first) as one string tensor [batch, longest (at least 1)], each row
    right-aligned with "" before: the newest item is always last."""
    width = max((len(items) for items in lists), default=0) or 1
    out = np.full((len(lists), width), "", dtype=object)
    for row, items in enumerate(lists):
        if items:
            out[row, width - len(items) :] = list(items)
    return out


def popularity_of(reference: Mapping[str, Any]) -> dict[str, float]:
    """A ranking model's reference popularity: item → its training interactions."""
    table = reference["popularity"]
    return {str(i): float(c) for i, c in zip(table["items"], table["counts"], strict=True)}


def recommended_popularity(
    lists: Sequence[Sequence[str]], popularity: Mapping[str, float]
) -> NDArray[np.float64]:
    """One column: each list's mean item popularity, log(1 + training interactions) (an item unknown to
    training counts 0; NaN for an empty list)."""
    get = popularity.get
    out = [
        math.fsum(math.log1p(get(i, 0.0)) for i in items) / len(items) if items else math.nan
        for items in lists
    ]
    return np.array(out, dtype=np.float64).reshape(-1, 1)
