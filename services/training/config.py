"""Settings of the training job (prefix TRAIN_): registry, candidates, gate, topics."""

from __future__ import annotations

from operator import attrgetter
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.config import KafkaSettings, UseCaseSettings
from services.common.signing import SigningKey, SigningKeyFile

__all__ = ["TrainSettings"]

_ROOT = Path(__file__).resolve().parents[2]


class TrainSettings(UseCaseSettings):
    """Where models go, which candidates compete and how the winner is chosen."""

    model_config = SettingsConfigDict(env_prefix="TRAIN_", extra="ignore", populate_by_name=True)
    declared = UseCaseSettings.declared | {
        "model_name": attrgetter("model.name"),
        "delay_days": lambda uc: round(uc.labels.delay_days) if uc.labels else 0,
        "labels_topic": lambda uc: uc.topics.feedback or "",
        "models_topic": attrgetter("topics.models"),
        "protocol": attrgetter("training.protocol"),
        "holdout": attrgetter("training.holdout"),
        "gate_metric": attrgetter("training.gate_metric"),
        "gate_margin": attrgetter("training.gate_margin"),
    }

    model_name: str = Field(
        default="", pattern=r"^([a-z0-9_-]+)?$", description="default: the use case's model.name"
    )
    registry_root: Path = Field(
        default=_ROOT / "data" / "models",
        description="the model registry: <name>/<version>/model.onnx and its card",
    )
    model_signing_key: SigningKey = None
    model_signing_key_file: SigningKeyFile
    candidates: list[Literal["logreg", "lgbm", "mlp"]] = Field(
        default=["logreg", "lgbm", "mlp"],
        min_length=1,
        description="the models trained and compared (logreg, lgbm, mlp)",
    )
    gate_metric: str = Field(
        default="average_precision",
        description="the metric a candidate must beat production on to be promoted: auc_roc, "
        "average_precision, or one of the use case's own (fraud: card_precision_at_100); default: the "
        "use case's training.gate_metric",
    )
    gate_margin: float = Field(
        default=0.005,
        ge=0,
        description="how much a candidate must beat production by (default: the use case's "
        "training.gate_margin)",
    )
    protocol: Literal["delayed", "holdout", "last_per_key", "none"] = Field(
        default="holdout",
        description="how candidates are evaluated: delayed (the window feedback.delay_days after the "
        "training one), holdout (the newest share of the training window), last_per_key (each key's last "
        "request; ranking models) or none; default: the use case's training.protocol",
    )
    holdout: float = Field(default=0.2, gt=0, lt=1, description="holdout: the share held out, the newest")
    delay_days: int = Field(
        default=0,
        ge=0,
        description="delayed protocol: days between training and test (default: the feedback's delay_days)",
    )
    parity_tolerance: float = Field(
        default=1e-5,
        gt=0,
        description="largest difference allowed between the ONNX model's and the native model's scores",
    )
    labels_topic: str = Field(default="", description="default: the use case's topics.feedback")
    models_topic: str = Field(default="", description="default: the use case's topics.models")
    seed: int = Field(default=0, description="random seed of the candidates' training")
    ranking_sample: float = Field(
        default=0.15,
        gt=0,
        le=1,
        description="ranking models: the share of the training requests whose candidates train the ranker",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
