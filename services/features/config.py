"""Settings of the features service (prefix FEATURES_; REDIS_URL picks the online store)."""

from __future__ import annotations

from operator import attrgetter
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.config import ServiceSettings
from services.common.feast.settings import FeatureStoreSettings

__all__ = ["FeaturesSettings"]

_ROOT = Path(__file__).resolve().parents[2]


class FeaturesSettings(FeatureStoreSettings, ServiceSettings):
    """Topics, state, the window parameters, and where the feature store lives (FeatureStoreSettings)."""

    model_config = SettingsConfigDict(env_prefix="FEATURES_", extra="ignore", populate_by_name=True)
    declared = ServiceSettings.declared | {
        "clean_topic": attrgetter("topics.clean"),
        "labels_topic": lambda uc: uc.topics.feedback or "",
        "features_topic": attrgetter("topics.features"),
    }

    transactional_id: str | None = Field(
        default=None, description="unique per process (default: group id + host name)"
    )
    group_id: str = Field(
        default="rtloop-features",
        description="consumer group; also names the internal topics <group>.<view>.changelog / "
        ".repartition and the Delta writer's group <group>-lake",
    )
    clean_topic: str = Field(default="", description="default: the use case's topics.clean")
    labels_topic: str = Field(
        default="", description="default: the use case's topics.feedback (none: no labels to read)"
    )
    features_topic: str = Field(default="", description="default: the use case's topics.features")
    lateness_days: int = Field(default=1, ge=0, description="out-of-order events kept in the windows")
    label_wait_ms: int = Field(
        default=60_000,
        ge=0,
        description="how long a later stage may hold an event for a lagging clean or labels "
        "partition; longer than a failover (session timeout 10 s + restore), so a dead process's "
        "partitions are waited for, not skipped",
    )
    max_batch_size: int = Field(
        default=2000, ge=1, le=100_000, description="a batch holds at most this many messages"
    )
    max_batch_wait_ms: int = Field(
        default=20, ge=1, le=60_000, description="longest idle poll: a batch is what is queued once any is"
    )
    fetch_max_wait_ms: int = Field(
        default=20,
        ge=1,
        le=1_500,
        description="how long the broker may hold a fetch request: a stage's input is the stage "
        "before's output, and a fetch parked on the broker delays it",
    )
    lake_compact_every: int = Field(
        default=50,
        ge=0,
        description="compact a feature table's small files after this many appends (0: never; "
        "`rtloop lake optimize` does it by hand): each commit costs ~0.1 ms per file in the table",
    )
    lake_min_interval_ms: int = Field(
        default=250,
        ge=0,
        le=60_000,
        description="at most one Delta append per table this often (the rows of the batches that came "
        "meanwhile go together): each append costs ~9-12 ms of CPU however few its rows; the lake "
        "writer's offsets are committed after it, off the event path",
    )
    lake_log_retention_minutes: int = Field(
        default=2,
        ge=1,
        description="Delta log kept by the feature tables (delta.logRetentionDuration; time travel "
        "reaches this far): each commit lists the log folder, ~7 us per file",
    )
    verify_online: bool = Field(
        default=False,
        description="read every event's features back from the online store after the write and "
        "attach them to the emitted event (parity checks; costs one lookup per wave)",
    )

    @property
    def lake_group_id(self) -> str:
        """The consumer group of the Delta writer (it reads the features topic)."""
        return f"{self.group_id}-lake"

    def changelog_topic(self, view: str) -> str:
        """The compacted topic of a view's window state (the group's own, as a Kafka
        Streams application's internal topics are its application id's)."""
        return f"{self.group_id}.{view}.changelog"

    def repartition_topic(self, view: str) -> str:
        """The topic that feeds a view keyed by another entity than the clean stream."""
        return f"{self.group_id}.{view}.repartition"
