"""The per-hop latencies every prediction carries (the rest of a prediction is its use case's)."""

from __future__ import annotations

from pydantic import Field

from services.common.contracts.base import Contract

__all__ = ["LatencyMs"]


class LatencyMs(Contract):
    """Per-hop latencies in milliseconds."""

    lookup: float = Field(ge=0)
    inference: float = Field(ge=0)
    total: float = Field(ge=0)
    end_to_end: float | None = Field(default=None, description="event ingest → prediction")
