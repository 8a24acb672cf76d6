"""One batched online lookup of a feature service for a micro-batch of events; a ranking model's lists."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from services.common.feast_online import OnlineReader
from services.common.feature_services import FeatureServiceSpec, ViewSpec
from services.scorer.ranking import ListBatch, carried_lists
from services.scorer.transforms import FeatureBatch, ScoreRequest, overlay_carried

__all__ = ["ListLookup", "OnlineLookup"]


class OnlineLookup:
    """Reads every view of the feature service for all transactions of a batch in one round trip."""

    def __init__(self, reader: OnlineReader, service: FeatureServiceSpec) -> None:
        self.reader, self.service = reader, service

    def batch(self, requests: Sequence[ScoreRequest]) -> FeatureBatch:
        """The inputs of each transaction, as the online store holds them now, except a view whose
        values the event carries (its own row of that view, which a later event may have replaced)."""
        started = time.perf_counter()
        views = self.service.views
        replaced = 0
        if requests:
            ids = [(v, [r.keys[i] for r in requests]) for i, v in enumerate(views)]
            blocks = self.reader.read_matrices(ids)
            values = np.hstack([b for b, _present in blocks])
            replaced = int(overlay_carried(values, requests, views).sum())
        else:
            values = np.zeros((0, len(self.service.feature_names)))
        holes = np.isnan(values)
        missing: NDArray[np.bool_] = np.asarray(holes.any(axis=1), dtype=bool)
        x = np.where(holes, 0.0, values).astype(np.float32)  # the handler scores no row with a hole
        lookup_ms = (time.perf_counter() - started) * 1000
        return FeatureBatch(requests, x, missing, self.service.feature_names, lookup_ms, replaced)

    def close(self) -> None:
        """Release the store connection."""
        self.reader.close()


class ListLookup:
    """The lists a ranking model reads: those each event carries (its own row of the first view, point
    in time), else the first view's row online now."""

    def __init__(self, reader: OnlineReader, view: ViewSpec, names: Sequence[str]) -> None:
        self.reader, self.view, self.names = reader, view, list(names)

    def batch(self, requests: Sequence[ScoreRequest]) -> ListBatch:
        """Each request's lists; `missing` where neither the event nor the store has them."""
        started = time.perf_counter()
        lists, lacking = carried_lists(requests, self.names)
        missing = np.zeros(len(requests), dtype=bool)
        if lacking:
            rows = self.reader.read_lists(self.view, [requests[i].keys[0] for i in lacking])
            for i, row in zip(lacking, rows, strict=True):
                values = [None if row is None else row.get(name) for name in self.names]
                if any(v is None for v in values):
                    missing[i] = True
                    continue
                for name, value in zip(self.names, values, strict=True):
                    lists[name][i] = value or []
        return ListBatch(requests, lists, missing, (time.perf_counter() - started) * 1000)

    def close(self) -> None:
        """Release the store connection."""
        self.reader.close()
