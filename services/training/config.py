"""Settings of the training job (prefix TRAIN_): registry, candidates, gate, topics."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.config import KafkaSettings, UseCaseSettings

__all__ = ["TrainSettings"]

_ROOT = Path(__file__).resolve().parents[2]


class TrainSettings(UseCaseSettings):
    """Where models go, which candidates compete and how the winner is chosen."""

    model_config = SettingsConfigDict(env_prefix="TRAIN_", extra="ignore", populate_by_name=True)

    model_name: str = Field(default="fraud", pattern=r"^[a-z0-9_-]+$")
    registry_root: Path = Field(default=_ROOT / "data" / "models")
    candidates: list[Literal["logreg", "lgbm", "mlp"]] = Field(
        default=["logreg", "lgbm", "mlp"], min_length=1
    )
    gate_metric: Literal["average_precision", "auc_roc", "card_precision_at_100"] = "average_precision"
    delay_days: int = Field(default=7, ge=0, description="days between training and test (labels' delay)")
    parity_tolerance: float = Field(default=1e-5, gt=0)
    labels_topic: str = "labels"
    models_topic: str = "models"
    seed: int = 0
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
