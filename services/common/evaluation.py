"""Threshold-free quality of scores (pure): the built-in metrics, a use case's own, and its test-set rule.

Frames hold one row per scored event: `key` (the event key), `event_time`, `target` (bool), `score`;
a ranking's, `rank` (the truth's in the event's list) and `target` (it is in the top k).
A use case adds metrics and a test-set rule in the module its declaration names (`evaluation`):
`METRICS` (name → frame → float), `test_set(test, known, train_start, train_end, delay_days)`, and
`BASELINES` (published figures to print beside its own: name → metric → value).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from services.common.errors import ConfigError
from services.common.usecase import UseCase

__all__ = ["BUILT_IN", "Evaluation", "Metric", "Metrics", "evaluate", "evaluation_for", "ranking_metrics"]

Metric = Callable[[pd.DataFrame], float]
TestSet = Callable[[pd.DataFrame, pd.DataFrame, date, date, int], pd.DataFrame]


def _both(frame: pd.DataFrame) -> bool:
    return bool(frame["target"].nunique() == 2)


def auc_roc(frame: pd.DataFrame) -> float:
    """Area under the ROC curve (NaN with one class only)."""
    return float(roc_auc_score(frame["target"].astype(int), frame["score"])) if _both(frame) else float("nan")


def average_precision(frame: pd.DataFrame) -> float:
    """Average precision (NaN with one class only)."""
    if not _both(frame):
        return float("nan")
    return float(average_precision_score(frame["target"].astype(int), frame["score"]))


BUILT_IN: dict[str, Metric] = {"auc_roc": auc_roc, "average_precision": average_precision}


def ranking_metrics(k: int) -> dict[str, Metric]:
    """A ranking's built-in metrics at k, over frames with the truth's 1-based `rank` in each request's
    list (inf when it is not there): recall, NDCG and MRR (one relevant item per request)."""

    def hits(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        ranks = frame["rank"].to_numpy(dtype=np.float64)
        hit = ranks <= k
        return hit, np.where(hit, ranks, 1.0)

    def recall(frame: pd.DataFrame) -> float:
        return float(hits(frame)[0].mean()) if len(frame) else float("nan")

    def ndcg(frame: pd.DataFrame) -> float:
        hit, ranks = hits(frame)
        return float(np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0).mean()) if len(frame) else float("nan")

    def mrr(frame: pd.DataFrame) -> float:
        hit, ranks = hits(frame)
        return float(np.where(hit, 1.0 / ranks, 0.0).mean()) if len(frame) else float("nan")

    return {f"recall_at_{k}": recall, f"ndcg_at_{k}": ndcg, f"mrr_at_{k}": mrr}


def _every_event(
    test: pd.DataFrame, _known: pd.DataFrame, _from: date, _to: date, _delay: int
) -> pd.DataFrame:
    """The built-in test-set rule: every labelled event of the test window."""
    return test


@dataclass(frozen=True)
class Evaluation:
    """A use case's metrics (the built-in ones and its own) and its test-set rule."""

    metrics: Mapping[str, Metric] = field(default_factory=lambda: dict(BUILT_IN))
    test_set: TestSet = _every_event
    source: str = "built in"
    baselines: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def require(self, names: list[str] | tuple[str, ...], where: str) -> None:
        """ConfigError unless every name is one of its metrics."""
        unknown = [n for n in names if n not in self.metrics]
        if unknown:
            raise ConfigError(
                f"{where} names {', '.join(unknown)}: not a metric of the use case (it has "
                f"{', '.join(self.metrics)}; a use case adds its own in its evaluation module's METRICS)"
            )


def evaluation_for(declared: UseCase) -> Evaluation:
    """The declared evaluation module's additions over the built-in metrics (a ranking model's: recall,
    NDCG and MRR at the decision's k), or the built-in ones."""
    k = declared.decision.k
    built_in = ranking_metrics(k) if k is not None else BUILT_IN
    if not declared.evaluation:
        return Evaluation(dict(built_in))
    try:
        module = importlib.import_module(declared.evaluation)
    except ImportError as exc:
        raise ConfigError(f"evaluation: cannot import {declared.evaluation!r} ({exc})") from None
    own: Mapping[str, Metric] = getattr(module, "METRICS", {})
    return Evaluation(
        {**built_in, **own},
        getattr(module, "test_set", _every_event),
        source=declared.evaluation,
        baselines=getattr(module, "BASELINES", {}),
    )


@dataclass(frozen=True)
class Metrics:
    """Metric name → value on a test set, and the set's size."""

    values: dict[str, float]
    events: int
    positives: int

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def as_dict(self) -> dict[str, float]:
        """Metric name → value, with the counts (the names model cards and ModelVersion use)."""
        return self.values | {"test_events": float(self.events), "test_positives": float(self.positives)}


def evaluate(frame: pd.DataFrame, metrics: Mapping[str, Metric] = BUILT_IN) -> Metrics:
    """Every metric on `frame` (key, event_time, target, score)."""
    if frame.empty:
        return Metrics(dict.fromkeys(metrics, float("nan")), 0, 0)
    values = {name: float(metric(frame)) for name, metric in metrics.items()}
    return Metrics(values, len(frame), int(np.count_nonzero(frame["target"].to_numpy(dtype=bool))))
