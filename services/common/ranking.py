"""The ranking models' interface, shared by training (which builds them) and the scorer (which feeds
them): inputs are lists of item ids as string tensors, outputs the best items, their scores and how
many candidates were ranked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["CANDIDATE_COUNT", "ITEMS", "ITEM_SCORES", "padded"]

# outputs: [batch, k] string (best first), [batch, k] float, [batch] int64 (only the first
# min(k, count) items of a row are recommendations)
ITEMS, ITEM_SCORES, CANDIDATE_COUNT = "items", "item_scores", "candidate_count"


def padded(lists: Sequence[Sequence[str]]) -> NDArray[np.object_]:
    """Lists of item ids (oldest first) as one string tensor [batch, longest (at least 1)], each row
    right-aligned with "" before: the newest item is always last."""
    width = max((len(items) for items in lists), default=0) or 1
    out = np.full((len(lists), width), "", dtype=object)
    for row, items in enumerate(lists):
        if items:
            out[row, width - len(items) :] = list(items)
    return out
