"""Settings of the features service (prefix FEATURES_; REDIS_URL picks the online store)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from services.common.config import ServiceSettings

__all__ = ["FeaturesSettings"]

_ROOT = Path(__file__).resolve().parents[2]


class FeaturesSettings(ServiceSettings):
    """Topics, state, the Feast repository and online store, the lake and the window parameters."""

    model_config = SettingsConfigDict(env_prefix="FEATURES_", extra="ignore")

    engine: Literal["faust", "runner"] = Field(
        default="runner",
        description="runner: the shared runner, window state in Kafka transactions, N processes "
        "sharing partitions; faust: the faust-streaming worker (until the runner proves parity)",
    )
    transactional_id: str | None = Field(
        default=None, description="runner engine: unique per process (default: group id + host name)"
    )
    group_id: str = "rtloop-features"
    clean_topic: str = "transactions.clean"
    labels_topic: str = "labels"
    features_topic: str = "transactions.features"
    state_dir: Path = Field(default=_ROOT / "data" / "features-state")
    lake_root: Path = Field(default=_ROOT / "data" / "lake")
    feast_repo: Path = Field(default=_ROOT / "infra" / "feast")
    feast_project: str = Field(default="rtloop", pattern=r"^[a-z0-9_]+$")
    feast_data: Path = Field(default=_ROOT / "data" / "feast", description="registry and sqlite online store")
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "FEATURES_REDIS_URL"),
        description="redis://host:port/db: Redis online store; unset: sqlite under feast_data",
    )
    feature_service: str = "fraud_v1"
    label_delay_days: int = Field(default=7, ge=0, description="D of the delayed terminal windows")
    lateness_days: int = Field(default=1, ge=0, description="out-of-order events kept in the windows")
    label_wait_ms: int = Field(
        default=10_000,
        ge=0,
        description="how long a transaction may wait for the labels stream to reach its event time",
    )
    stall_after_s: float = Field(
        default=15.0,
        gt=0,
        le=3_600,
        description="a partition that delivered nothing this long while the broker holds records past "
        "it gets them read back directly (Faust can leave a range undelivered after a restart)",
    )
    max_batch_size: int = Field(default=2000, ge=1, le=100_000)
    max_batch_wait_ms: int = Field(default=20, ge=1, le=60_000)
    fetch_max_wait_ms: int = Field(
        default=20,
        ge=1,
        le=1_500,
        description="how long the broker may hold a fetch request of the Faust consumer; one request "
        "for idle partitions holds the connection while transactions pile up (Faust's own: 1,500)",
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
        "meanwhile go together): each append costs ~9-12 ms of CPU however few its rows; the offset "
        "commits wait for it, the features events only with emit_after_lake",
    )
    emit_after_lake: bool = Field(
        default=False,
        description="emit a features event only once its rows are in Delta as well as online; default: "
        "right after the online write (the serving path), the Delta append following off the event "
        "path (offsets are committed after both either way)",
    )
    lake_log_retention_minutes: int = Field(
        default=2,
        ge=1,
        description="Delta log kept by the feature tables (delta.logRetentionDuration; time travel "
        "reaches this far): each commit lists the log folder, ~7 us per file",
    )
    changelog_producer: Literal["faust", "librdkafka"] = Field(
        default="librdkafka",
        description="who produces the state tables' changelog records: librdkafka (made durable before "
        "the events behind them are acked; 2.3x the throughput here), or Faust's own aiokafka producer",
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
        """The compacted topic of a view's window state (runner engine; the group's own, as a Kafka
        Streams application's internal topics are its application id's)."""
        return f"{self.group_id}.{view}.changelog"

    def repartition_topic(self, view: str) -> str:
        """The topic that feeds a view keyed by another entity than the clean stream (runner engine)."""
        return f"{self.group_id}.{view}.repartition"

    @property
    def customer_table(self) -> Path:
        """Delta table of customer feature rows (Feast's offline source)."""
        return self.lake_root / "customer_features"

    @property
    def terminal_table(self) -> Path:
        """Delta table of terminal feature rows (Feast's offline source)."""
        return self.lake_root / "terminal_features"

    @property
    def transactions_table(self) -> Path:
        """ingest's Delta table of clean transactions (the history's entity rows)."""
        return self.lake_root / "transactions"

    @property
    def labels_stall_after_s(self) -> float:
        """The labels partitions' stall time: at most half the labels wait, so a labels partition
        Faust leaves undelivered is read back before a transaction waiting on it gives up."""
        wait_s = self.label_wait_ms / 1000
        return min(self.stall_after_s, wait_s / 2) if wait_s > 0 else self.stall_after_s
