"""The book's two protocols offline, side by side: its single split, and the mean over 4 prequential test
folds (training weeks 2018-07-25, -18, -11, -04, each tested 7 days after its end, known cards removed).

The HANDBOOK's best figures (XGBoost 0.869 / 0.687 / 0.303) are means over such folds, while its single
split figures (random forest 0.867 / 0.658 / 0.287) are one fold: this prints both for our candidates and
a random forest like the book's, on the full simulation with the batch definitions of the 15 inputs
(the pandas reference the features parity test uses). `python -m benchmarks.prequential [kind ...]`.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from services.common.evaluation import BUILT_IN, Metrics, evaluate
from services.training.candidates import CANDIDATES, fit
from tests.features_helpers import batch_features
from usecases.fraud import FEATURE_NAMES
from usecases.fraud.evaluation import BOOK_BASELINES, METRICS, book_test_set
from usecases.fraud.simulator import SimulationConfig, simulate

__all__ = ["prequential"]

START = date(2018, 7, 25)


def _dataset() -> pd.DataFrame:
    table = simulate(SimulationConfig())
    frame = batch_features(table)
    raw = table.select(["transaction_id", "tx_datetime", "customer_id", "tx_fraud"]).to_pandas()
    raw.index = raw["transaction_id"].astype(str)
    raw = raw.loc[frame.index]
    frame["key"] = raw["customer_id"].astype(str).to_numpy()
    frame["event_time"] = pd.to_datetime(raw["tx_datetime"], utc=True).to_numpy()
    frame["target"] = raw["tx_fraud"].astype(int).to_numpy()
    return frame


def _fold(frame: pd.DataFrame, start: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    day = frame["event_time"].dt.floor("D")

    def ts(d: date) -> pd.Timestamp:
        return pd.Timestamp(d, tz="UTC")

    test_start = start + timedelta(days=14)
    train = frame[(day >= ts(start)) & (day < ts(start + timedelta(days=7)))]
    test = frame[(day >= ts(test_start)) & (day < ts(test_start + timedelta(days=7)))]
    known = frame[(day >= ts(start)) & (day < ts(test_start + timedelta(days=7)))]
    kept = book_test_set(test.reset_index(drop=True), known, start, start + timedelta(days=7))
    return train, kept


def _forest(seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, max_depth=20, n_jobs=2, random_state=seed)


def prequential(kinds: list[str], folds: int = 4) -> dict[str, list[Metrics]]:
    """Per model: the metrics of each fold, the book's single split first."""
    console = Console()
    with console.status("simulating and computing the 15 inputs…"):
        frame = _dataset()
    names = list(FEATURE_NAMES)
    out: dict[str, list[Metrics]] = {k: [] for k in kinds}
    for k in range(folds):
        train, test = _fold(frame, START - timedelta(days=7 * k))
        x, y = train[names].to_numpy(np.float32), train["target"].to_numpy()
        for kind in kinds:
            with console.status(f"fold {k + 1}/{folds}: {kind}"):
                model = _forest(0).fit(x, y) if kind == "forest" else fit(CANDIDATES[kind], x, y, 0)
                scores = model.predict_proba(test[names].to_numpy(np.float32))[:, 1]
                out[kind].append(evaluate(test.assign(score=scores), BUILT_IN | METRICS))
    return out


def main(kinds: list[str]) -> None:
    """Print single split and prequential mean per model next to the book's figures."""
    results = prequential(kinds or ["logreg", "lgbm", "forest"])
    table = Table(title="AUC ROC / AP / CP@100: the book's single split vs the mean of 4 prequential folds")
    for col in ("model", "single split", "prequential mean"):
        table.add_column(col)
    for kind, folds in results.items():
        names = ("auc_roc", "average_precision", "card_precision_at_100")
        mean = [np.mean([m[name] for m in folds]) for name in names]
        table.add_row(
            kind, " / ".join(f"{folds[0][name]:.3f}" for name in names), " / ".join(f"{v:.3f}" for v in mean)
        )
    for name, figures in BOOK_BASELINES.items():  # its model-selection figures are prequential means
        shown = " / ".join(f"{v:.3f}" for v in figures)
        table.add_row(name, *(("", shown) if "model selection" in name else (shown, "")))
    Console().print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
