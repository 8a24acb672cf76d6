"""ModelVersion v1: a registered model on the compacted models topic."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.common.contracts.base import Contract, Timestamp

__all__ = ["ModelVersionV1"]


class ModelVersionV1(Contract):
    """Where a model version lives, how to verify it and what it expects."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    uri: str = Field(min_length=1, description="model.onnx location (path or object-store URI)")
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    features: list[str] = Field(min_length=1, description="Input feature names, in input order")
    threshold: float = Field(ge=0, le=1)
    metrics: dict[str, float] = Field(default_factory=dict)
    stage: Literal["candidate", "production", "shadow", "archived"]
    created_at: Timestamp
