"""FeaturizedTransaction v1: a clean transaction whose features are readable online."""

from __future__ import annotations

from pydantic import Field

from services.common.contracts.base import Timestamp
from services.common.contracts.clean import CleanTransactionV1

__all__ = ["FeaturizedTransactionV1"]


class FeaturizedTransactionV1(CleanTransactionV1):
    """Emitted only after the event's features were written to the online store."""

    features_written_at: Timestamp = Field(description="When the online write became durable")
    feature_service: str = Field(min_length=1, description="Feast feature service to look up")
