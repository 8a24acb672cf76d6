"""Candidate models: logistic regression, LightGBM and an MLP (the GPU-friendly one), fitted the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["CANDIDATES", "Candidate", "decision_threshold", "fit"]


@dataclass(frozen=True)
class Candidate:
    """A model kind: how to build an unfitted estimator (a scikit-learn API object)."""

    kind: str
    title: str
    build: Callable[[int], Any]


def _logreg(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))


def _lgbm(seed: int) -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=200,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=40,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=2,
        verbose=-1,
    )


def _mlp(seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(256, 256, 128),
            alpha=1e-4,
            batch_size=512,
            learning_rate_init=1e-3,
            max_iter=30,
            early_stopping=True,
            n_iter_no_change=5,
            random_state=seed,
        ),
    )


CANDIDATES: dict[str, Candidate] = {
    c.kind: c
    for c in (
        Candidate("logreg", "logistic regression", _logreg),
        Candidate("lgbm", "LightGBM (gradient-boosted trees)", _lgbm),
        Candidate("mlp", "MLP 256-256-128 (neural, GPU-friendly)", _mlp),
    )
}


def fit(candidate: Candidate, x: NDArray[np.float32], y: NDArray[np.int_], seed: int = 0) -> Any:
    """A fitted estimator on float32 inputs (what ONNX Runtime will see)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    model = candidate.build(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    if candidate.kind == "lgbm":
        float32_thresholds(model)
    return model


def float32_thresholds(model: Any) -> None:
    """Replace every split threshold t of a fitted LightGBM model by the largest float32 <= t. For float32
    inputs `x <= t` and `x <= that` agree, and ONNX's TreeEnsemble (float32 thresholds) then compares
    exactly as LightGBM does — without it, a value that equals float32(t) rounded up goes the other way."""
    import re

    import lightgbm

    def floor32(match: re.Match[str]) -> str:
        values = np.array(match.group(1).split(), dtype=np.float64)
        down = values.astype(np.float32)
        too_high = down.astype(np.float64) > values
        down[too_high] = np.nextafter(down[too_high], np.float32(-np.inf))
        return "threshold=" + " ".join(repr(float(v)) for v in down.astype(np.float64))

    text = re.sub(r"^threshold=(.*)$", floor32, model.booster_.model_to_string(), flags=re.MULTILINE)
    text = re.sub(r"^tree_sizes=.*\n", "", text, flags=re.MULTILINE)  # byte offsets: they change
    model._Booster = lightgbm.Booster(model_str=text)


def decision_threshold(y: NDArray[np.int_], scores: NDArray[np.float64]) -> float:
    """The score threshold with the best F1 on (y, scores): where the model flags a transaction."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, scores)  # one threshold per distinct score
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(np.clip(thresholds[int(np.argmax(f1))], 1e-6, 1 - 1e-6))
