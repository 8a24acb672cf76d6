"""Prediction v1: one score and decision per tx_id on the predictions topic."""

from __future__ import annotations

from pydantic import Field

from services.common.contracts.base import Contract, EventTime, Id, Timestamp

__all__ = ["LatencyMs", "PredictionV1"]


class LatencyMs(Contract):
    """Per-hop latencies in milliseconds."""

    lookup: float = Field(ge=0)
    inference: float = Field(ge=0)
    total: float = Field(ge=0)
    end_to_end: float | None = Field(default=None, description="event ingest → prediction")


class PredictionV1(Contract):
    """A model's verdict on one transaction."""

    tx_id: Id
    customer_id: Id
    terminal_id: Id
    event_time: EventTime
    score: float = Field(ge=0, le=1, allow_inf_nan=False)
    decision: bool
    threshold: float = Field(ge=0, le=1)
    model_name: str = Field(min_length=1)
    model_version: str = Field(min_length=1)
    features: dict[str, float] = Field(description="The feature vector used, by name")
    latency_ms: LatencyMs
    scored_at: Timestamp
    shadow: bool = Field(default=False, description="True for a shadow model's score: never decides")
