"""One batched online lookup of a feature service for a micro-batch of transactions."""

from __future__ import annotations

import time
from collections.abc import Sequence

from services.common.feast_online import OnlineReader
from services.common.feature_services import FeatureServiceSpec
from services.scorer.transforms import FeatureBatch, ScoreRequest, assemble

__all__ = ["OnlineLookup"]


class OnlineLookup:
    """Reads every view of the feature service for all transactions of a batch in one round trip."""

    def __init__(self, reader: OnlineReader, service: FeatureServiceSpec) -> None:
        self.reader, self.service = reader, service

    def batch(self, requests: Sequence[ScoreRequest]) -> FeatureBatch:
        """The inputs of each transaction, as the online store holds them now."""
        started = time.perf_counter()
        views = self.service.views
        rows = (
            self.reader.read_views([(v, [getattr(r, v.join_key) for r in requests]) for v in views])
            if requests
            else [[] for _ in views]
        )
        x, missing = assemble(rows, [v.features for v in views], len(requests))
        lookup_ms = (time.perf_counter() - started) * 1000
        return FeatureBatch(requests, x, missing, self.service.feature_names, lookup_ms)

    def close(self) -> None:
        """Release the store connection."""
        self.reader.close()
