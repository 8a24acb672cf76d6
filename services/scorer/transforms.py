"""Pure parts of scoring: the featurized event as the scorer needs it, the input matrix, Prediction v1."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from services.common.errors import DecodeError
from services.common.feature_services import ViewSpec
from services.common.usecase import UseCase

__all__ = [
    "FeatureBatch",
    "ModelInfo",
    "RequestFields",
    "ScoreRequest",
    "featurized_parser",
    "overlay_carried",
    "prediction_dicts",
    "request_fields",
    "with_end_to_end",
]


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """The fields of a featurized event the scorer uses: its id, its key for each view of the feature
    service (in view order), its event time, and what features carried."""

    id: str
    keys: tuple[str, ...]
    event_time: str
    ingest_time: str | None = None
    carried: dict[str, Any] | None = None  # the event's own rows of every view (numbers, lists)


@dataclass(frozen=True)
class RequestFields:
    """Where a featurized event holds its id, its views' keys and its event time (the declaration's
    names), and where a prediction puts them again."""

    id: str
    keys: tuple[str, ...]
    time: str


def request_fields(declared: UseCase) -> RequestFields:
    """The declaration's event id, its feature service's view keys and its event time."""
    keys = tuple(view.join_key for view in declared.feature_service.views)
    return RequestFields(declared.event.id, keys, declared.event.time)


def featurized_parser(fields: RequestFields) -> Callable[[bytes], ScoreRequest]:
    """Decode the fields scoring needs (the features service validated the rest); DecodeError otherwise.
    msgspec reads only these fields, checks that the id, keys and time are strings, and skips the
    others unparsed (the whole event in Python objects was 2.2 of the 3.8 µs a parse took)."""
    names = tuple(dict.fromkeys((fields.id, *fields.keys, fields.time)))
    if {"ingest_time", "features"} & set(names):
        raise ValueError("ingest_time and features are the featurized event's own fields")
    extras = [("ingest_time", Any, None), ("features", Any, None)]
    struct = msgspec.defstruct("Featurized", [*((n, str) for n in names), *extras])
    decode = msgspec.json.Decoder(struct).decode
    texts = attrgetter(fields.id, *fields.keys, fields.time)

    def parse(raw: bytes) -> ScoreRequest:
        try:
            doc = decode(raw)
        except msgspec.ValidationError as exc:  # a field's ("… - at `$.tx_id`", "… missing required
            if "at `$." in str(exc) or "missing required" in str(exc):  # field …"), or not an object
                raise DecodeError("invalid_field", str(exc)) from None
            raise DecodeError("invalid_json", "a JSON object is required") from None
        except msgspec.DecodeError as exc:
            raise DecodeError("invalid_json", f"not JSON: {exc}") from None
        values = tuple(map(str.strip, texts(doc)))
        if "" in values:
            empty = (fields.id, *fields.keys, fields.time)[values.index("")]
            raise DecodeError("invalid_field", f"{empty}: a non-empty string is required")
        event_time = values[-1]
        try:
            datetime.fromisoformat(event_time)
        except ValueError:
            raise DecodeError("invalid_field", f"{fields.time}: not RFC 3339: {event_time!r:.40}") from None
        ingest, carried = doc.ingest_time, doc.features  # type: ignore[attr-defined]
        return ScoreRequest(
            values[0],
            values[1:-1],
            event_time,
            ingest if type(ingest) is str else None,
            carried if type(carried) is dict else None,  # absent: the online rows serve
        )

    return parse


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
    """Transactions and their model inputs, row for row; `missing` marks rows lacking an input."""

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


@functools.cache
def _document(fields: RequestFields) -> Callable[..., dict[str, Any]]:
    """A Prediction v1 document as one dict literal (as fast as a hand-written one), its first keys the
    declaration's id, keys and time: generated once per set of names, which repr() quotes."""
    head = [f"{fields.id!r}: r.id", *(f"{k!r}: r.keys[{i}]" for i, k in enumerate(fields.keys))]
    head.append(f"{fields.time!r}: r.event_time")
    tail = ("score", "decision", "threshold", "model_name", "model_version", "features", "latency_ms")
    body = ", ".join([*head, *(f"{n!r}: {n}" for n in tail), "'scored_at': stamp, 'shadow': shadow"])
    source = f"lambda r, {', '.join(tail)}, stamp, shadow: {{{body}}}"
    return eval(source, {})  # type: ignore[no-any-return]


def with_end_to_end(
    latency_ms: dict[str, float], ingest_time: str | None, scored_s: float
) -> dict[str, float]:
    """The latencies, with the event's ingest → scored time when its ingest time is known."""
    if ingest_time is None:
        return latency_ms
    try:
        end_to_end = (scored_s - datetime.fromisoformat(ingest_time).timestamp()) * 1000
    except (ValueError, TypeError):
        return latency_ms
    return {**latency_ms, "end_to_end": end_to_end if end_to_end > 0 else 0.0}


def prediction_dicts(
    batch: FeatureBatch,
    scores: NDArray[np.float64],
    model: ModelInfo,
    fields: RequestFields,
    *,
    latency_ms: dict[str, float],
    scored_at: datetime,
    shadow: bool = False,
) -> list[dict[str, Any]]:
    """Prediction v1 documents, one per event, in batch order: its id, keys and event time under the
    declaration's names, then the score and the decision."""
    stamp, scored_s = scored_at.isoformat(), scored_at.timestamp()
    scores = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, 1.0)
    decisions = ((scores >= model.threshold) & (not shadow)).tolist()
    values = batch.x.astype(np.float64).tolist()
    names = batch.features
    document = _document(fields)
    out = []
    for req, score, decision, row in zip(batch.requests, scores.tolist(), decisions, values, strict=True):
        latency = with_end_to_end(latency_ms, req.ingest_time, scored_s)
        out.append(
            document(
                req,
                score,
                decision,
                model.threshold,
                model.name,
                model.version,
                dict(zip(names, row, strict=True)),
                latency,
                stamp,
                shadow,
            )
        )
    return out
