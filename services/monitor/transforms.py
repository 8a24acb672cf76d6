"""Pure parts of monitoring: predictions and labels as the monitor needs them, windows, and the checks
that turn a closed window into findings (drift, live quality, dead-letter rate, freshness)."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from services.common.contracts.alert import DriftedFeature
from services.common.drift import ColumnDrift, Reference, drift
from services.common.errors import DecodeError
from services.common.evaluation import BUILT_IN, Metric, evaluate
from services.common.kafka.decode import json_object
from services.monitor.alerting import Finding
from services.monitor.joins import Joined, Scored

__all__ = [
    "Checks",
    "FeedbackFields",
    "Popularity",
    "PredictionFields",
    "PredictionRow",
    "Window",
    "assess",
    "epoch",
    "latencies",
    "parse_label",
    "parse_prediction",
]


class PredictionFields(NamedTuple):
    """Where a prediction holds its event's id, key and time (the declaration's names)."""

    id: str
    key: str
    time: str


class FeedbackFields(NamedTuple):
    """Where a feedback message holds its event's id, target, event time and its own time."""

    id: str
    target: str
    time: str
    known_at: str


class PredictionRow(NamedTuple):
    """A prediction as monitored: the scored inputs in the reference's order."""

    scored: Scored
    inputs: tuple[float, ...]
    shadow: bool
    end_to_end_ms: float | None
    scorer_ms: float | None = None  # the scorer's own hop (lookup + inference)


def epoch(text: Any, name: str) -> float:
    """An RFC 3339 field as epoch seconds (DecodeError otherwise)."""
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        raise DecodeError("invalid_field", f"{name}: not RFC 3339: {text!r:.40}") from None


def inputs_getter(names: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The values of `names` from a features object, in that order (KeyError if one is missing)."""
    get = operator.itemgetter(*names)
    return get if len(names) > 1 else lambda features: (get(features),)


def parse_prediction(
    raw: bytes,
    fields: PredictionFields,
    names: list[str],
    getter: Callable[[dict[str, Any]], tuple[Any, ...]] | None = None,
) -> PredictionRow:
    """The fields the monitor reads; a missing input is NaN (left out of drift). `getter`
    (`inputs_getter(names)`, made once) reads every input at C speed when none is missing."""
    doc = json_object(raw)
    try:
        features = doc.get("features") or {}
        try:
            inputs = tuple(map(float, (getter or inputs_getter(names))(features)))
        except KeyError:
            inputs = tuple([float(features.get(n, np.nan)) for n in names])
        scored = Scored(
            str(doc[fields.id]),
            str(doc[fields.key]),
            epoch(doc[fields.time], fields.time),
            float(doc["score"]),
            str(doc.get("model_version", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError("invalid_field", f"not a prediction: {exc!r:.80}") from None
    return PredictionRow(scored, inputs, bool(doc.get("shadow")), *latencies(doc))


def latencies(doc: dict[str, Any]) -> tuple[float | None, float | None]:
    """An output document's end-to-end latency and the scorer's own hop (ms), where it says them."""
    latency = doc.get("latency_ms") or {}
    e2e, hop = latency.get("end_to_end"), latency.get("total")
    return (float(e2e) if e2e is not None else None, float(hop) if hop is not None else None)


def parse_label(raw: bytes, fields: FeedbackFields) -> tuple[str, bool, float, float]:
    """The event's id, the target, the event's time and the feedback's own (epoch s) of a feedback
    message."""
    doc = json_object(raw)
    try:
        return (
            str(doc[fields.id]),
            bool(doc[fields.target]),
            epoch(doc[fields.time], fields.time),
            epoch(doc[fields.known_at], fields.known_at),
        )
    except KeyError as exc:
        raise DecodeError("invalid_field", f"not a feedback message: missing {exc}") from None


@dataclass
class Window:
    """The events of one window: production predictions, label joins made, dead letters seen."""

    index: int
    start: float | None = None  # event-time windows: [start, end) in epoch s
    end: float | None = None
    rows: list[PredictionRow] = field(default_factory=list)
    joined: list[Joined] = field(default_factory=list)
    dead_letters: int = 0

    @property
    def count(self) -> int:
        """Predictions in the window."""
        return len(self.rows)

    def span(self) -> tuple[datetime, datetime]:
        """An event-time window's bounds; otherwise the first and last event time of its predictions."""
        if self.start is not None and self.end is not None:
            return datetime.fromtimestamp(self.start, UTC), datetime.fromtimestamp(self.end, UTC)
        times = [r.scored.event_time for r in self.rows] or [0.0]
        return datetime.fromtimestamp(min(times), UTC), datetime.fromtimestamp(max(times), UTC)

    def inputs(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Predictions × inputs."""
        if not self.rows:
            return np.empty((0, 0), dtype=np.float64)
        width = len(self.rows[0].inputs)
        flat = itertools.chain.from_iterable(r.inputs for r in self.rows)
        return np.fromiter(flat, np.float64, len(self.rows) * width).reshape(-1, width)

    def scores(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """One column: the production scores."""
        return np.fromiter((r.scored.score for r in self.rows), np.float64, len(self.rows)).reshape(-1, 1)


@dataclass(frozen=True)
class Checks:
    """Thresholds of the checks (from the monitor's settings)."""

    min_drifted_features: int = 1
    drift_threshold: float = 0.1
    quality_min_labelled: int = 2_000
    quality_min_positives: int = 5
    quality: Mapping[str, float] = field(default_factory=dict)  # metric → its least acceptable value
    metrics: Mapping[str, Metric] = field(default_factory=lambda: dict(BUILT_IN))  # computed per window
    max_dlq_rate: float = 0.05
    dlq_min_events: int = 200  # fewer events (a window of labels only): no rate to speak of
    max_end_to_end_p99_ms: float = 5_000.0
    ignore: frozenset[str] = frozenset()  # inputs scored and plotted, never counted as drifted


def _drift_finding(kind: str, results: list[Any], checks: Checks) -> Finding:
    counted = [c for c in results if c.name not in checks.ignore]
    limit = checks.drift_threshold
    drifted = [
        DriftedFeature(name=c.name, score=c.score, method=c.method, threshold=limit)
        for c in counted
        if c.score >= limit
    ]
    share = len(drifted) / max(len(counted), 1)
    scores = {f"drift.{c.name}": c.score for c in results} | {"drift_share": share}
    bad = len(drifted) >= (checks.min_drifted_features if kind == "data_drift" else 1)
    names = ", ".join(f"{d.name} ({d.score:.2f})" for d in drifted)
    return Finding(
        kind,  # type: ignore[arg-type]
        bad,
        "critical" if share >= 0.5 and kind == "data_drift" else "warning",
        scores,
        drifted,
        f"drifted: {names}" if drifted else "no drift",
    )


@dataclass(frozen=True)
class Popularity:
    """A ranking window's popularity drifts (`ranking.window_popularity`) and the share of the catalog
    it recommended."""

    drifts: list[ColumnDrift]
    coverage: float


def assess(
    window: Window,
    inputs_ref: Reference | None,
    score_ref: Reference | None,
    checks: Checks,
    popularity: Popularity | None = None,
) -> list[Finding]:
    """Every check on a closed window (drift where there is a reference: of the inputs, or a ranking's
    of its recommended items' popularity); quality only once enough labelled predictions joined."""
    findings = []
    if window.count and inputs_ref is not None and score_ref is not None:
        if popularity is None:
            findings.append(_drift_finding("data_drift", drift(inputs_ref, window.inputs()), checks))
        else:
            found = _drift_finding("popularity_drift", popularity.drifts, checks)
            found.metrics["coverage"] = popularity.coverage
            findings.append(found)
        findings.append(_drift_finding("prediction_drift", drift(score_ref, window.scores()), checks))
    total = window.count + window.dead_letters
    rate = window.dead_letters / total if total else 0.0
    findings.append(
        Finding(
            "dlq_rate",
            rate > checks.max_dlq_rate and total >= checks.dlq_min_events,
            "warning",
            {"dlq_rate": rate},
            message=f"{rate:.2%} dead-lettered",
        )
    )
    latencies = [r.end_to_end_ms for r in window.rows if r.end_to_end_ms is not None]
    if latencies:
        p50, p99 = (float(v) for v in np.percentile(latencies, [50, 99]))
        hops = [r.scorer_ms for r in window.rows if r.scorer_ms is not None]
        shown = {"end_to_end_p50_ms": p50, "end_to_end_p99_ms": p99}
        shown |= {"scorer_p99_ms": float(np.percentile(hops, 99))} if hops else {}
        bad = p99 > checks.max_end_to_end_p99_ms
        findings.append(Finding("freshness", bad, "warning", shown, message=f"p99 {p99:.0f} ms"))
    positives = sum(_hit(j) for j in window.joined)
    if len(window.joined) >= checks.quality_min_labelled and positives >= checks.quality_min_positives:
        findings.append(_quality(window.joined, checks))
    return findings


def _quality(joined: list[Joined], checks: Checks) -> Finding:
    """Every metric of the use case on the window's joined predictions; bad when one is under its least
    acceptable value (NaN, from one class only, is not under anything)."""
    n = len(joined)
    frame = pd.DataFrame(
        {
            "key": [j.prediction.key for j in joined],
            "event_time": pd.to_datetime(
                np.fromiter((j.prediction.event_time for j in joined), np.float64, n), unit="s", utc=True
            ),
            "target": np.fromiter((_hit(j) for j in joined), bool, n),
            "score": np.fromiter((j.prediction.score for j in joined), np.float64, n),
            "rank": np.fromiter((_rank(j) for j in joined), np.float64, n),
        }
    )
    m = evaluate(frame, checks.metrics)
    under = [name for name, least in checks.quality.items() if m[name] < least]
    said = ", ".join(f"{name} {value:.3f}" for name, value in m.values.items())
    return Finding(
        "quality_drop",
        bool(under),
        "critical",
        m.as_dict(),
        message=f"{said}; under the least acceptable: {', '.join(under)}" if under else said,
    )


def _rank(joined: Joined) -> float:
    """A ranking's: where the item that came next is in its list (1-based; inf when it is not)."""
    items, truth = joined.prediction.items, joined.target
    return float(items.index(truth) + 1) if isinstance(truth, str) and truth in items else float("inf")


def _hit(joined: Joined) -> bool:
    """A positive: a label's target, or a ranking's next item among its recommendations."""
    return joined.target in joined.prediction.items if isinstance(joined.target, str) else joined.target
