"""Pure parts of scoring: the featurized event as the scorer needs it, the input matrix, Prediction v1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from services.common.errors import DecodeError
from services.common.feature_services import ViewSpec

__all__ = [
    "FeatureBatch",
    "ModelInfo",
    "ScoreRequest",
    "assemble",
    "overlay_carried",
    "parse_featurized",
    "prediction_dicts",
]


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """The fields of a FeaturizedTransaction v1 the scorer uses."""

    tx_id: str
    customer_id: str
    terminal_id: str
    event_time: str
    ingest_time: str | None = None
    carried: dict[str, float] | None = None  # the event's own inputs (features, or customer_features)


class _Featurized(msgspec.Struct):
    """The fields of a featurized event that scoring reads; msgspec skips the others unparsed (the
    whole event in Python objects was 2.2 of the 3.8 µs a parse took)."""

    tx_id: Any = None
    customer_id: Any = None
    terminal_id: Any = None
    event_time: Any = None
    ingest_time: Any = None
    features: Any = None
    customer_features: Any = None


_decode_featurized = msgspec.json.Decoder(_Featurized).decode


def _text(doc: _Featurized, name: str) -> str:
    value = getattr(doc, name)
    if not isinstance(value, str) or not value.strip():
        raise DecodeError("invalid_field", f"{name}: a non-empty string is required, got {value!r:.40}")
    return value.strip()


def parse_featurized(raw: bytes) -> ScoreRequest:
    """Decode the fields scoring needs (the features service validated the rest); DecodeError otherwise."""
    try:
        doc = _decode_featurized(raw)
    except msgspec.ValidationError:
        raise DecodeError("invalid_json", "a JSON object is required") from None
    except msgspec.DecodeError as exc:
        raise DecodeError("invalid_json", f"not JSON: {exc}") from None
    tx, customer, terminal, event_time = doc.tx_id, doc.customer_id, doc.terminal_id, doc.event_time
    if not (  # the common case in one expression; _text names the first bad field otherwise
        type(tx) is str
        and type(customer) is str
        and type(terminal) is str
        and type(event_time) is str
        and (tx := tx.strip())
        and (customer := customer.strip())
        and (terminal := terminal.strip())
        and (event_time := event_time.strip())
    ):
        tx, customer, terminal = _text(doc, "tx_id"), _text(doc, "customer_id"), _text(doc, "terminal_id")
        event_time = _text(doc, "event_time")
    try:
        datetime.fromisoformat(event_time)
    except ValueError:
        raise DecodeError("invalid_field", f"event_time: not RFC 3339: {event_time!r:.40}") from None
    ingest, carried = doc.ingest_time, doc.features
    if type(carried) is not dict:
        carried = doc.customer_features  # written by features before `features` (its customer row)
        if type(carried) is not dict:
            carried = None  # absent: the online rows serve
    return ScoreRequest(tx, customer, terminal, event_time, ingest if type(ingest) is str else None, carried)


def _covered(
    carried: Sequence[tuple[int, dict[str, float]]], names: Sequence[str]
) -> tuple[list[int], NDArray[np.float64]]:
    """The rows that carry every feature of a view as numbers, and those values in view order."""
    get = itemgetter(*names) if len(names) > 1 else (lambda c: (c[names[0]],))
    take, rows = [], []
    for i, c in carried:
        try:
            rows.append(get(c))
        except KeyError:
            continue
        take.append(i)
    own = np.array(rows)
    if take and own.dtype.kind not in "fiu":  # a value that is no number: keep only the clean rows
        good = [n for n, row in enumerate(rows) if all(type(v) in (float, int) for v in row)]
        take, own = [take[n] for n in good], np.array([rows[n] for n in good])
    return take, own.astype(np.float64).reshape(len(take), len(names))


def overlay_carried(
    values: NDArray[np.float64], requests: Sequence[ScoreRequest], views: Sequence[ViewSpec]
) -> NDArray[np.bool_]:
    """Put each transaction's carried inputs over the looked-up row of every view they cover whole
    (in place); True where the online row held other values, i.e. a later transaction had replaced
    it (a row the store does not hold is filled, not counted)."""
    replaced = np.zeros(len(requests), dtype=bool)
    carried = [(i, r.carried) for i, r in enumerate(requests) if r.carried]
    col = 0
    for view in views:
        k = len(view.features)
        take, own = _covered(carried, view.features)
        if take:
            block = values[take, col : col + k]
            held = ~np.isnan(block).any(axis=1)
            replaced[take] |= held & ~np.isclose(block, own, rtol=1e-9, atol=1e-12).all(axis=1)
            values[take, col : col + k] = own
        col += k
    return replaced


@dataclass(frozen=True)
class FeatureBatch:
    """Transactions and their model inputs, row for row; `missing` marks rows with an imputed input."""

    requests: Sequence[ScoreRequest]
    x: NDArray[np.float32]
    missing: NDArray[np.bool_]
    features: list[str]
    lookup_ms: float = 0.0
    replaced: int = 0  # rows whose online row was a later transaction's (the event's own values used)


@dataclass(frozen=True)
class ModelInfo:
    """What a prediction says about the model that made it."""

    name: str
    version: str
    threshold: float


def assemble(
    rows_per_view: Sequence[Sequence[dict[str, float | None] | None]],
    view_features: Sequence[Sequence[str]],
    n: int,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """The input matrix from each view's looked-up rows (view after view, features in view order).
    A missing row or value becomes 0 and marks its transaction in `missing`."""
    width = sum(len(f) for f in view_features)
    x = np.zeros((n, width), dtype=np.float32)
    missing = np.zeros(n, dtype=bool)
    col = 0
    for rows, names in zip(rows_per_view, view_features, strict=True):
        k = len(names)
        values = [[row.get(f) for f in names] if row is not None else [None] * k for row in rows]
        block = np.array(values, dtype=np.float64) if values else np.zeros((0, k))
        holes = np.isnan(block)
        missing |= holes.any(axis=1)
        x[:, col : col + k] = np.where(holes, 0.0, block)
        col += k
    return x, missing


def prediction_dicts(
    batch: FeatureBatch,
    scores: NDArray[np.float64],
    model: ModelInfo,
    *,
    latency_ms: dict[str, float],
    scored_at: datetime,
    shadow: bool = False,
) -> list[dict[str, Any]]:
    """Prediction v1 documents, one per transaction, in batch order."""
    stamp, scored_s = scored_at.isoformat(), scored_at.timestamp()
    scores = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, 1.0)
    decisions = ((scores >= model.threshold) & (not shadow)).tolist()
    values = batch.x.astype(np.float64).tolist()
    names, parse = batch.features, datetime.fromisoformat
    out = []
    for req, score, decision, row in zip(batch.requests, scores.tolist(), decisions, values, strict=True):
        latency = latency_ms
        if req.ingest_time is not None:
            try:
                end_to_end = (scored_s - parse(req.ingest_time).timestamp()) * 1000
                latency = {**latency_ms, "end_to_end": end_to_end if end_to_end > 0 else 0.0}
            except (ValueError, TypeError):
                pass
        out.append(
            {
                "tx_id": req.tx_id,
                "customer_id": req.customer_id,
                "terminal_id": req.terminal_id,
                "event_time": req.event_time,
                "score": score,
                "decision": decision,
                "threshold": model.threshold,
                "model_name": model.name,
                "model_version": model.version,
                "features": dict(zip(names, row, strict=True)),
                "latency_ms": latency,
                "scored_at": stamp,
                "shadow": shadow,
            }
        )
    return out
