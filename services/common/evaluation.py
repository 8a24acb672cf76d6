"""The handbook's evaluation protocol (pure): the test set without known-compromised cards, AUC ROC,
Average Precision and Card Precision@k per day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = ["BOOK_BASELINES", "Metrics", "book_test_set", "card_precision_at_k", "evaluate"]

# Published test-week results (AUC ROC, AP, CP@100), HANDBOOK.md §3.
BOOK_BASELINES: dict[str, tuple[float, float, float]] = {
    "book: logistic regression": (0.871, 0.606, 0.291),
    "book: random forest": (0.867, 0.658, 0.287),
    "book: XGBoost, model selection": (0.869, 0.687, 0.303),
    "book: balanced bagging, model selection": (0.879, 0.680, 0.305),
}


@dataclass(frozen=True)
class Metrics:
    """Threshold-free quality of scores on a test set."""

    auc_roc: float
    average_precision: float
    card_precision_at_100: float
    transactions: int
    frauds: int

    def as_dict(self) -> dict[str, float]:
        """Metric name → value (the names model cards and ModelVersion use)."""
        return {
            "auc_roc": self.auc_roc,
            "average_precision": self.average_precision,
            "card_precision_at_100": self.card_precision_at_100,
            "test_transactions": float(self.transactions),
            "test_frauds": float(self.frauds),
        }


def _day(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["event_time"], utc=True).dt.date


def book_test_set(
    test: pd.DataFrame, known: pd.DataFrame, train_start: date, train_end: date, delay_days: int = 7
) -> pd.DataFrame:
    """`test` (customer_id, event_time, …) without the cards already known to be compromised: on test
    day t, every customer with a fraud in [train_start, train_end) or on a day in [train_end, t − delay − 1]
    is dropped. `known` holds labelled transactions (customer_id, event_time, is_fraud) of that period."""
    frauds = known[known["is_fraud"].astype(bool)]
    fraud_day = _day(frauds)
    test_day = _day(test)
    keep = np.ones(len(test), dtype=bool)
    for day in sorted(set(test_day)):
        cutoff = day - timedelta(days=delay_days + 1)
        seen = frauds.loc[
            (fraud_day >= train_start) & (fraud_day <= max(cutoff, train_end - timedelta(days=1)))
        ]
        on_day = (test_day == day).to_numpy()
        keep &= ~(on_day & test["customer_id"].isin(set(seen["customer_id"])).to_numpy())
    return test.loc[keep].reset_index(drop=True)


def card_precision_at_k(frame: pd.DataFrame, k: int = 100) -> float:
    """Mean over days of: the share of fraudulent cards among the k cards with the highest max score,
    cards detected (fraudulent and in the top k) on an earlier day left out."""
    days = _day(frame)
    detected: set[str] = set()
    precisions = []
    for day in sorted(set(days)):
        today = frame.loc[(days == day).to_numpy()]
        today = today[~today["customer_id"].isin(detected)]
        cards = today.groupby("customer_id").agg(score=("score", "max"), label=("is_fraud", "max"))
        top = cards.sort_values("score", ascending=False, kind="stable").head(k)
        precisions.append(float(top["label"].sum()) / k)
        detected |= set(top.index[top["label"].astype(bool)])
    return float(np.mean(precisions)) if precisions else float("nan")


def evaluate(frame: pd.DataFrame, k: int = 100) -> Metrics:
    """Metrics of `frame` (customer_id, event_time, is_fraud, score) — already the book's test set."""
    labels = frame["is_fraud"].astype(int).to_numpy()
    scores = frame["score"].to_numpy(dtype=float)
    both = len(set(labels.tolist())) == 2
    return Metrics(
        auc_roc=float(roc_auc_score(labels, scores)) if both else float("nan"),
        average_precision=float(average_precision_score(labels, scores)) if both else float("nan"),
        card_precision_at_100=card_precision_at_k(frame, k),
        transactions=len(frame),
        frauds=int(labels.sum()),
    )
