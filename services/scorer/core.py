"""The transport-free core: `score(feature batch) -> predictions`, shared by the stream and batch scoring."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from services.scorer.transforms import FeatureBatch, ModelInfo, RequestFields, prediction_dicts

__all__ = ["Predictor", "Scored", "score"]


class Predictor(Protocol):
    """A model runtime: its identity, its input order and a batched probability."""

    info: ModelInfo
    features: list[str]

    def predict(self, x: NDArray[np.float32]) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class Scored:
    """Prediction v1 documents of the primary model, and of the shadow model when there is one."""

    primary: list[dict[str, Any]]
    shadow: list[dict[str, Any]]
    inference_ms: float


def score(
    batch: FeatureBatch,
    model: Predictor,
    shadow: Predictor | None = None,
    *,
    fields: RequestFields,
    started: float | None = None,
    now: datetime | None = None,
) -> Scored:
    """Score every event of `batch` with `model` (and `shadow`, which never decides); `fields` names the
    predictions' id, keys and time. `started` (a perf_counter value) is when the batch began, for the
    total latency."""
    if model.features != batch.features:
        raise ValueError(
            f"{model.info.name} {model.info.version} expects {model.features}, got {batch.features}"
        )
    t0 = time.perf_counter()
    scores = model.predict(batch.x)
    inference_ms = (time.perf_counter() - t0) * 1000
    total_ms = (time.perf_counter() - (started if started is not None else t0)) * 1000 + batch.lookup_ms
    latency = {"lookup": batch.lookup_ms, "inference": inference_ms, "total": total_ms}
    when = now or datetime.now(UTC)
    primary = prediction_dicts(batch, scores, model.info, fields, latency_ms=latency, scored_at=when)
    shadow_docs: list[dict[str, Any]] = []
    if shadow is not None and shadow.features == batch.features:
        t1 = time.perf_counter()
        shadow_scores = shadow.predict(batch.x)
        shadow_latency = latency | {"inference": (time.perf_counter() - t1) * 1000}
        shadow_docs = prediction_dicts(
            batch, shadow_scores, shadow.info, fields, latency_ms=shadow_latency, scored_at=when, shadow=True
        )
    return Scored(primary, shadow_docs, inference_ms)
