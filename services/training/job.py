"""`rtloop train`: history → candidates → the use case's evaluation → ONNX (checked) → registry → gate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from services.common.contracts import ModelVersionV1
from services.common.drift import Reference
from services.common.errors import ConfigError, RtloopError
from services.common.evaluation import Evaluation, Metrics, evaluate
from services.common.registry import ModelRejected, Registry, verify_model
from services.training.candidates import CANDIDATES, decision_threshold, fit
from services.training.export import onnx_scores, to_onnx_bytes, verify_parity

__all__ = [
    "Datasets",
    "Judging",
    "Outcome",
    "Report",
    "evaluate_production",
    "holdout",
    "labelled",
    "scored_metrics",
    "train_candidates",
]

log = logging.getLogger(__name__)
Step = Callable[[str], None]


@dataclass(frozen=True)
class Datasets:
    """Training and test frames (id, key, event_time, the inputs, target) and their windows."""

    train: pd.DataFrame
    test: pd.DataFrame
    features: list[str]
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime


@dataclass
class Outcome:
    """One candidate's result."""

    kind: str
    title: str
    metrics: Metrics | None = None
    version: ModelVersionV1 | None = None
    parity: float | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Judging:
    """How candidates are judged: the use case's evaluation, the gate's metric and margin, and a threshold
    the decision fixes (else best F1 on the training rows)."""

    evaluation: Evaluation
    gate_metric: str = "average_precision"
    margin: float = 0.0
    threshold: float | None = None


@dataclass
class Report:
    """All candidates, the current production model on the same test set, and what was promoted."""

    judging: Judging
    outcomes: list[Outcome] = field(default_factory=list)
    production_before: Outcome | None = None
    promoted: ModelVersionV1 | None = None
    reason: str = ""


def labelled(
    history: pd.DataFrame, labels: pd.DataFrame, features: list[str], ident: str, key: str
) -> pd.DataFrame:
    """History rows (the event's `ident` and `key` columns, event_timestamp, the inputs) with all inputs
    and a label (rows without either are left out, and logged), as (id, key, event_time, inputs, target)."""
    frame = history.rename(columns={ident: "id", key: "key"}).merge(
        labels[["id", "target"]], on="id", how="inner"
    )
    complete = frame.dropna(subset=features)
    dropped = len(history) - len(complete)
    if dropped:
        log.warning("%d of %d events left out: no label yet or incomplete inputs", dropped, len(history))
    out = complete.rename(columns={"event_timestamp": "event_time"})
    out["event_time"] = pd.to_datetime(out["event_time"], utc=True)
    return out.reset_index(drop=True)


def _matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.ascontiguousarray(frame[features].to_numpy(dtype=np.float32))


def _score_frame(test: pd.DataFrame, scores: np.ndarray[Any, Any]) -> pd.DataFrame:
    return test[["key", "event_time", "target"]].assign(score=scores)


def train_candidates(
    data: Datasets,
    kinds: list[str],
    registry: Registry,
    name: str,
    judging: Judging,
    tolerance: float,
    seed: int,
    step: Step,
) -> list[Outcome]:
    """Fit, evaluate, export and register every candidate kind (a failing one is reported, not fatal)."""
    x_train, y_train = _matrix(data.train, data.features), data.train["target"].astype(int).to_numpy()
    x_test = _matrix(data.test, data.features)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    outcomes = []
    for kind in kinds:
        candidate = CANDIDATES[kind]
        outcome, started = Outcome(kind, candidate.title), datetime.now(UTC)
        step(f"{kind}: fit on {len(x_train):,} events")
        try:
            model = fit(candidate, x_train, y_train, seed)
            step(f"{kind}: ONNX export and parity check")
            onnx_bytes = to_onnx_bytes(model, len(data.features))
            x_check = x_test if len(x_test) else x_train[:10_000]
            native = model.predict_proba(x_check)[:, 1].astype(np.float64)
            outcome.parity = verify_parity(onnx_bytes, native, x_check, tolerance)
            if len(x_test):  # the ONNX model's scores, as production's are measured: like with like
                scores = onnx_scores(onnx_bytes, x_test)
                outcome.metrics = evaluate(_score_frame(data.test, scores), judging.evaluation.metrics)
            train_scores = model.predict_proba(x_train)[:, 1]
            threshold = judging.threshold or decision_threshold(y_train, train_scores)
            card = _card(name, f"{stamp}-{kind}", kind, data, outcome, threshold, judging)
            outcome.version = registry.write(card, onnx_bytes, _reference(x_train, train_scores, data, kind))
        except RtloopError as exc:
            outcome.error = str(exc)
        outcome.seconds = (datetime.now(UTC) - started).total_seconds()
        outcomes.append(outcome)
    return outcomes


def _reference(
    x: np.ndarray[Any, Any], scores: np.ndarray[Any, Any], data: Datasets, kind: str
) -> dict[str, Any]:
    """The monitor's drift reference: the training window's inputs and this model's scores on them."""
    source = f"{kind} training window {data.train_start:%Y-%m-%d}..{data.train_end:%Y-%m-%d}"
    return {
        "inputs": Reference.from_matrix(x, data.features, source).to_dict(),
        "score": Reference.from_matrix(scores[:, None], ["score"], source).to_dict(),
    }


def _card(
    name: str, version: str, kind: str, data: Datasets, o: Outcome, threshold: float, judging: Judging
) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "kind": kind,
        "title": o.title,
        "features": data.features,
        "threshold": threshold,
        "threshold_rule": "declared" if judging.threshold else "best F1 on the training window",
        "metrics": (o.metrics.as_dict() if o.metrics else {}) | {"onnx_max_abs_diff": o.parity or 0.0},
        "data_window": {
            "train": [data.train_start.isoformat(), data.train_end.isoformat()],
            "test": [data.test_start.isoformat(), data.test_end.isoformat()] if len(data.test) else None,
            "train_events": len(data.train),
            "train_positives": int(data.train["target"].sum()),
            "evaluation": judging.evaluation.source,
        },
        "input": {"name": "features", "dtype": "float32", "shape": [None, len(data.features)]},
        "output": {"name": "probabilities", "column": 1},
        "stage": "candidate",
    }


def evaluate_production(
    registry: Registry, name: str, features: list[str], measure: Callable[[bytes], Metrics] | None
) -> Outcome | None:
    """The current production model measured on the same test rows by `measure` (its ONNX bytes → the
    metrics; None without test rows); None when there is no production model."""
    version = registry.production(name)
    if version is None:
        return None
    card = registry.card(name, version)
    outcome = Outcome(card.get("kind", "?"), f"production {version}")
    try:
        onnx_bytes = verify_model(Registry.version_of(card), features)
        outcome.version = Registry.version_of(card)
        if measure is not None:
            outcome.metrics = measure(onnx_bytes)
    except ModelRejected as exc:
        outcome.error = str(exc)
    return outcome


def scored_metrics(data: Datasets, judging: Judging) -> Callable[[bytes], Metrics] | None:
    """How a probability model is measured on the test rows (None without any)."""
    if not len(data.test):
        return None
    x = _matrix(data.test, data.features)
    return lambda onnx: evaluate(_score_frame(data.test, onnx_scores(onnx, x)), judging.evaluation.metrics)


def choose(
    outcomes: list[Outcome], production: Outcome | None, judging: Judging
) -> tuple[Outcome | None, str]:
    """The best candidate by the gate metric, if it beats production's on the same rows by more than the
    margin. Without an evaluation a candidate is promoted only where there is no production model."""
    finished = [o for o in outcomes if o.version is not None and o.error is None]
    if not finished:
        return None, "no candidate finished"
    gate, margin = judging.gate_metric, judging.margin
    ranked = [o for o in finished if o.metrics is not None and not np.isnan(o.metrics[gate])]
    if not ranked:
        if production is None:
            return finished[0], f"{finished[0].kind} promoted: no production model (and no evaluation)"
        return None, "kept production: no evaluation to compare on (rtloop models publish promotes by hand)"
    best = max(ranked, key=lambda o: o.metrics[gate] if o.metrics else float("-inf"))
    assert best.metrics is not None
    value = best.metrics[gate]
    if production is None or production.metrics is None or np.isnan(production.metrics[gate]):
        return best, f"{best.kind} promoted: no usable production model"
    current = production.metrics[gate]
    if value > current + margin:
        return (
            best,
            f"{best.kind} promoted: {gate} {value:.4f} > production {current:.4f} + margin {margin:g}",
        )
    return None, (
        f"kept production: best candidate {best.kind} {gate} {value:.4f} is not above production "
        f"{current:.4f} + margin {margin:g}"
    )


def windows(start: datetime, end: datetime, delay_days: int) -> tuple[datetime, datetime]:
    """The delayed protocol's test window: as long as the training window, `delay_days` after it."""
    if end <= start:
        raise ConfigError(f"--to ({end:%Y-%m-%d}) must come after --from ({start:%Y-%m-%d})")
    test_start = end + timedelta(days=delay_days)
    return test_start, test_start + (end - start)


def holdout(frame: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame, datetime]:
    """The holdout protocol's split: the newest `share` of the rows by event time is the test, the rest
    trains; rows of the split's second all go to the test (no second on both sides)."""
    times = frame["event_time"].sort_values(kind="stable")
    split = times.iloc[min(int(len(times) * (1 - share)), len(times) - 1)].floor("s")
    before = frame["event_time"] < split
    return frame[before].reset_index(drop=True), frame[~before].reset_index(drop=True), split.to_pydatetime()
