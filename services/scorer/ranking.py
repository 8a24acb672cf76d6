"""The ranking path's core (transport-free): each request's lists of items in, the ranking model's best
items out, as Recommendation documents."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from services.scorer.core import Scored
from services.scorer.transforms import ModelInfo, RequestFields, ScoreRequest, with_end_to_end

__all__ = ["ListBatch", "Ranker", "carried_lists", "recommend", "recommendation_dicts"]


class Ranker(Protocol):
    """A ranking runtime: its identity, its inputs (lists, by name) and a batched recommendation."""

    info: ModelInfo
    features: list[str]

    def recommend(
        self, lists: dict[str, list[list[str]]]
    ) -> tuple[list[list[str]], list[list[float]], list[int]]: ...


@dataclass(frozen=True)
class ListBatch:
    """Requests and their model inputs (lists of item ids by name, row for row); `missing` marks rows
    whose lists neither came with the event nor are online."""

    requests: Sequence[ScoreRequest]
    lists: dict[str, list[list[str]]]
    missing: NDArray[np.bool_]
    lookup_ms: float = 0.0
    replaced: int = 0  # the lists come with the event: no online row is ever replaced


def carried_lists(
    requests: Sequence[ScoreRequest], names: Sequence[str]
) -> tuple[dict[str, list[list[str]]], list[int]]:
    """The lists each event carries (its own row of the first view: point in time), and the rows that
    carry not all of them (to be read online)."""
    lists: dict[str, list[list[str]]] = {name: [] for name in names}
    lacking = []
    for i, request in enumerate(requests):
        carried = request.carried or {}
        values = [carried.get(name) for name in names]
        whole = all(isinstance(v, list) and all(type(x) is str for x in v) for v in values)
        if not whole:
            lacking.append(i)
        for name, value in zip(names, values, strict=True):
            lists[name].append(value if whole and isinstance(value, list) else [])
    return lists, lacking


def recommend(
    batch: ListBatch,
    model: Ranker,
    shadow: Ranker | None = None,
    *,
    fields: RequestFields,
    started: float | None = None,
    now: datetime | None = None,
) -> Scored:
    """The best items of every request of `batch` (and the shadow's, which are never served)."""
    t0 = time.perf_counter()
    items, scores, counts = model.recommend(batch.lists)
    inference_ms = (time.perf_counter() - t0) * 1000
    total_ms = (time.perf_counter() - (started if started is not None else t0)) * 1000 + batch.lookup_ms
    latency = {"lookup": batch.lookup_ms, "inference": inference_ms, "total": total_ms}
    when = now or datetime.now(UTC)
    primary = recommendation_dicts(batch, (items, scores, counts), model.info, fields, latency, when)
    shadow_docs: list[dict[str, Any]] = []
    if shadow is not None and shadow.features == model.features:
        t1 = time.perf_counter()
        ranked = shadow.recommend(batch.lists)
        late = latency | {"inference": (time.perf_counter() - t1) * 1000}
        shadow_docs = recommendation_dicts(batch, ranked, shadow.info, fields, late, when, shadow=True)
    return Scored(primary, shadow_docs, inference_ms)


def recommendation_dicts(
    batch: ListBatch,
    ranked: tuple[list[list[str]], list[list[float]], list[int]],
    model: ModelInfo,
    fields: RequestFields,
    latency_ms: dict[str, float],
    scored_at: datetime,
    shadow: bool = False,
) -> list[dict[str, Any]]:
    """Recommendation documents, one per request in batch order: its id, keys and event time under the
    declaration's names, then the items best first with their ranks and scores."""
    stamp, scored_s = scored_at.isoformat(), scored_at.timestamp()
    out = []
    for request, items, scores, count in zip(batch.requests, *ranked, strict=True):
        latency = with_end_to_end(latency_ms, request.ingest_time, scored_s)
        doc: dict[str, Any] = {fields.id: request.id, **dict(zip(fields.keys, request.keys, strict=True))}
        doc[fields.time] = request.event_time
        doc |= {
            "items": [
                {"item": item, "rank": n + 1, "score": float(score)}
                for n, (item, score) in enumerate(zip(items, scores, strict=True))
            ],
            "candidate_count": count,
            "model_name": model.name,
            "model_version": model.version,
            "latency_ms": latency,
            "scored_at": stamp,
            "shadow": shadow,
        }
        out.append(doc)
    return out
