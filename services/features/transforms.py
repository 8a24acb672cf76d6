"""The fraud use case's feature views (HANDBOOK.md §2) as one instance of the window specs, and its
per-event inputs; until use cases are declarations (issue 25) they live here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.features.views import Aggregation, EventFields, FeatureView, FeedbackFields

__all__ = [
    "CUSTOMER_FEATURES",
    "EVENT_FIELDS",
    "EVENT_INPUTS",
    "FEATURE_NAMES",
    "FEEDBACK_FIELDS",
    "TERMINAL_FEATURES",
    "event_inputs",
    "fraud_views",
    "time_features",
]

WINDOWS = (1, 7, 30)
EVENT_FIELDS = EventFields(id="tx_id", time="event_time")
FEEDBACK_FIELDS = FeedbackFields(id="tx_id", time="tx_event_time", target="is_fraud")
EVENT_INPUTS = ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"]


def fraud_views(delay_days: int = 7) -> tuple[FeatureView, FeatureView]:
    """The customer view (keyed like the clean stream, so first) and the delayed terminal view."""
    customer = FeatureView(
        name="customer_spending",
        entity="customer_id",
        windows_days=WINDOWS,
        aggregations=(
            Aggregation(function="count", name="CUSTOMER_ID_NB_TX_{days}DAY_WINDOW"),
            Aggregation(function="mean", column="amount", name="CUSTOMER_ID_AVG_AMOUNT_{days}DAY_WINDOW"),
        ),
    )
    terminal = FeatureView(
        name="terminal_risk",
        entity="terminal_id",
        windows_days=WINDOWS,
        delay_days=delay_days,
        aggregations=(
            Aggregation(function="count", name="TERMINAL_ID_NB_TX_{days}DAY_WINDOW"),
            Aggregation(function="share", name="TERMINAL_ID_RISK_{days}DAY_WINDOW"),
        ),
    )
    return customer, terminal


CUSTOMER_FEATURES = EVENT_INPUTS + fraud_views()[0].feature_names
TERMINAL_FEATURES = fraud_views()[1].feature_names
FEATURE_NAMES = CUSTOMER_FEATURES + TERMINAL_FEATURES


def time_features(ts: int) -> tuple[int, int]:
    """(TX_DURING_WEEKEND, TX_DURING_NIGHT): Saturday or Sunday; hour 00–06 (UTC)."""
    moment = datetime.fromtimestamp(ts, UTC)
    return int(moment.weekday() >= 5), int(moment.hour <= 6)


def event_inputs(event: Any, ts: int) -> dict[str, float]:
    """The transaction's own inputs (in the customer view's row): amount and time flags."""
    weekend, night = time_features(ts)
    return {
        "TX_AMOUNT": float(event.amount),
        "TX_DURING_WEEKEND": float(weekend),
        "TX_DURING_NIGHT": float(night),
    }
