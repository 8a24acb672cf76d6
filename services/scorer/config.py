"""Settings of the scorer (prefix SCORER_; REDIS_URL picks the online store)."""

from __future__ import annotations

import socket
from operator import attrgetter
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.config import ServiceSettings
from services.common.signing import SigningKey, SigningKeyFile

__all__ = ["ScorerSettings"]

_ROOT = Path(__file__).resolve().parents[2]


class ScorerSettings(ServiceSettings):
    """Topics, the model to serve, execution providers, micro-batching and the online store."""

    model_config = SettingsConfigDict(env_prefix="SCORER_", extra="ignore")
    declared = ServiceSettings.declared | {
        "features_topic": attrgetter("topics.features"),
        "predictions_topic": attrgetter("topics.predictions"),
        "models_topic": attrgetter("topics.models"),
        "alerts_topic": attrgetter("topics.alerts"),
        "model_name": attrgetter("model.name"),
        "feature_service": attrgetter("model.inputs"),
    }

    group_id: str = Field(
        default="rtloop-scorer",
        description="consumer group (the scorers of one deployment share it; KEDA scales on its lag)",
    )
    features_topic: str = Field(default="", description="default: the use case's topics.features")
    predictions_topic: str = Field(default="", description="default: the use case's topics.predictions")
    models_topic: str = Field(default="", description="default: the use case's topics.models")
    alerts_topic: str = Field(default="", description="default: the use case's topics.alerts")
    model_name: str = Field(default="", description="default: the use case's model.name")
    feature_service: str = Field(default="", description="default: the use case's model.inputs")
    providers: list[str] = Field(
        default=["CUDAExecutionProvider", "CPUExecutionProvider"],
        description="ONNX Runtime execution providers in order of preference (JSON list)",
    )
    intra_op_threads: int = Field(default=0, ge=0, description="ONNX Runtime CPU threads; 0 = its default")
    max_batch_size: int = Field(default=5000, ge=1, le=100_000, description="micro-batch: at most this many")
    max_batch_wait_ms: int = Field(
        default=20, ge=1, le=60_000, description="longest idle poll: a batch is what is queued once any is"
    )
    lookup_chunk: int = Field(
        default=1000,
        ge=1,
        description="rows per online lookup; the next chunk's lookup runs while this chunk is scored",
    )
    missing_inputs_wait_s: float = Field(
        default=60,
        ge=0,
        description="an event whose online inputs are missing is retried this long (the store or "
        "features is catching up), then dead-lettered with reason missing_inputs; never scored with 0s",
    )
    model_wait_s: float = Field(
        default=0, ge=0, description="give up if no production model after this (0: wait)"
    )
    feast_project: str = Field(default="rtloop", pattern=r"^[a-z0-9_]+$", description="the Feast project")
    feast_data: Path = Field(default=_ROOT / "data" / "feast", description="where the sqlite online store is")
    redis_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "SCORER_REDIS_URL"),
        description="redis://[:password@]host:port/db: Redis online store (a secret, never shown); unset: "
        "sqlite under feast_data",
    )
    model_signing_key: SigningKey = None
    model_signing_key_file: SigningKeyFile
    transactional_id: str | None = Field(
        default=None,
        description="Kafka transactional.id of this instance; default <group>-<host>-<instance>. Keep it "
        "stable across restarts of one instance and unique between instances.",
    )
    instance: str = Field(default="0", description="distinguishes instances on one host")
    transaction_timeout_ms: int = Field(
        default=15_000,
        ge=1000,
        description="a transaction left open by a killed scorer blocks readers this long",
    )
    dedupe_window_s: float = Field(
        default=86_400,
        gt=0,
        description="an event id answered is remembered this long (wall clock; the retention of the "
        "group's <group>.seen state topic): a copy arriving within it gets no second prediction",
    )
    dedupe_ids_per_partition: int = Field(
        default=500_000,
        ge=1,
        description="at most this many ids remembered per input partition (memory bound; the oldest are "
        "forgotten first, which shortens the window: rtloop_scorer_dedupe_window_seconds)",
    )

    @property
    def seen_topic(self) -> str:
        """The group's state topic of answered ids (partitioned like the features topic)."""
        return f"{self.group_id}.seen"

    @property
    def transactional_id_or_default(self) -> str:
        """The transactional.id this instance uses."""
        return self.transactional_id or f"{self.group_id}-{socket.gethostname()}-{self.instance}"
