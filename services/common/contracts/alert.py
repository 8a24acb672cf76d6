"""Alert v1: what the monitor publishes on the alerts topic."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.common.contracts.base import Contract, Timestamp

__all__ = ["AlertKind", "AlertV1", "AlertWindow", "DriftedFeature"]

AlertKind = Literal[
    "data_drift", "prediction_drift", "popularity_drift", "quality_drop", "dlq_rate", "freshness", "model"
]


class AlertWindow(Contract):
    """The window of events an alert was computed on."""

    start: Timestamp
    end: Timestamp
    count: int = Field(ge=0)


class DriftedFeature(Contract):
    """One feature's drift test result."""

    name: str
    score: float
    method: str
    threshold: float


class AlertV1(Contract):
    """A raised or cleared alert."""

    alert_id: str = Field(min_length=1)
    kind: AlertKind
    severity: Literal["info", "warning", "critical"]
    state: Literal["raised", "cleared"] = "raised"
    window: AlertWindow | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    drifted_features: list[DriftedFeature] = Field(default_factory=list)
    message: str = ""
    report_uri: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    raised_at: Timestamp
