"""Settings of the ingest service (prefix INGEST_)."""

from __future__ import annotations

from operator import attrgetter
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.config import ServiceSettings

__all__ = ["IngestSettings"]

_ROOT = Path(__file__).resolve().parents[2]


class IngestSettings(ServiceSettings):
    """Spark, topics, lake and the cleaning rules' parameters."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")
    declared = ServiceSettings.declared | {
        "raw_topic": attrgetter("topics.raw"),
        "max_value_bytes": attrgetter("cleaning.max_value_bytes"),
        "clean_topic": attrgetter("topics.clean"),
        "max_future_skew_s": attrgetter("cleaning.max_future_skew_s"),
        "max_event_age_days": attrgetter("cleaning.max_event_age_days"),
    }

    group_id: str = Field(
        default="rtloop-ingest",
        description="the prefix of the Spark queries' consumer groups (groupIdPrefix: a Kafka ACL names it; "
        "ingest commits no group offsets, its checkpoints hold them)",
    )
    raw_topic: str = Field(default="", description="default: the use case's topics.raw")
    clean_topic: str = Field(default="", description="default: the use case's topics.clean")
    spark_master: str = Field(
        default="local[*]",
        description="local[*] is widened to one task slot per raw partition plus two, "
        "because real-time mode keeps one long-running task per partition",
    )
    driver_memory: str = Field(default="1g", pattern=r"^\d+[mg]$", description="the Spark driver's heap")
    jars_dir: Path = Field(
        default=_ROOT / ".cache" / "rtloop" / "jars" / "spark",
        description="the Kafka and Delta jars `make jars` resolves",
    )
    lake_root: Path = Field(
        default=_ROOT / "data" / "lake", description="Delta tables and the queries' checkpoints"
    )
    queries: str = Field(
        default="clean,lake",
        pattern=r"^(clean|lake)(,(clean|lake))?$",
        description="which of the two queries this process runs: both (the default), or one each in "
        "two deployments so that the clean path and the lake path get their own cores",
    )
    clean_mode: Literal["realtime", "microbatch"] = Field(
        default="realtime", description="realtime (Spark's real-time mode, ms latency) or microbatch"
    )
    realtime_checkpoint_interval: str = Field(
        default="5 minutes",
        description="real-time mode batch length = checkpoint interval (Spark's default). Each batch "
        "boundary pauses the clean path ~0.5-1 s (at 30 seconds that was 2-3% of the records, p99 "
        "0.7 s); a restart re-emits what came since the last boundary (at least once)",
    )
    clean_linger_ms: int = Field(
        default=5,
        ge=0,
        le=1_000,
        description="linger.ms of the clean sink's producer: with 0, real-time mode sends a record "
        "batch or two per request, and the features consumer (aiokafka, per-batch Python) falls behind",
    )
    lake_trigger: str = Field(
        default="10 seconds",
        description="micro-batch interval of the lake query: each batch costs ~1 s of Spark jobs "
        "whatever its size (Delta rebuilds the table state to check txnVersion), taken from the clean path",
    )
    lake_max_offsets_per_trigger: int = Field(
        default=150_000,
        ge=1,
        description="rows per lake batch when behind: 150k runs at the rate of 300k (~22k rows/s on "
        "2 cores, lake query alone) with peak RSS 1.6 GB against 2.6 GB",
    )
    lake_log_retention: str = Field(
        default="2 days",
        pattern=r"^[1-9][0-9]* (minutes|hours|days|weeks)$",
        description="Delta log and removed files kept by the ingest tables (delta.logRetentionDuration, "
        "delta.deletedFileRetentionDuration; time travel reaches this far): a commit every lake trigger "
        "is 8,640 log files a day per table, and Delta's 30-day default keeps ~260k for each commit to list",
    )
    dedup_watermark: str = Field(
        default="7 days",
        pattern=r"^[1-9][0-9]* (seconds|minutes|hours|days|weeks)$",
        description="de-duplication window of the lake, on Kafka arrival time: a copy of an event id "
        "arriving within it of the first is dropped. Checked at start against the raw topic's retention "
        "(the default equals its 7 days): shorter, and a re-sent copy the topic still holds can reach "
        "Delta twice",
    )
    allow_data_loss: bool = Field(
        default=False,
        description="records the raw topic's retention deleted before ingest read them stop ingest with "
        "an error (the default); true skips past such a gap (Spark's failOnDataLoss=false): set it once "
        "to go on",
    )
    max_future_skew_s: float = Field(
        default=300.0, ge=0, description="event times further ahead of the record's time are dead-lettered"
    )
    max_event_age_days: float = Field(
        default=10_000.0, gt=0, description="event times further behind the record's time are dead-lettered"
    )
    rejected_value_max_bytes: int = Field(
        default=65_536, ge=0, description="bytes of a rejected value kept in the rejected events' table"
    )
    starting_offsets: Literal["earliest", "latest"] = Field(
        default="earliest", description="where a new deployment (no checkpoint) starts reading the raw topic"
    )

    @property
    def query_names(self) -> set[str]:
        """The queries this process runs (`queries`, split)."""
        return set(self.queries.split(","))

    @property
    def realtime_clean(self) -> bool:
        """This process runs the clean path in real-time mode (one long-running task per partition)."""
        return self.clean_mode == "realtime" and "clean" in self.query_names

    @property
    def checkpoints(self) -> Path:
        """Checkpoints live under the lake, one folder per query."""
        return self.lake_root / "_checkpoints" / "ingest"

    def table(self, name: str) -> Path:
        """Path of a Delta table in the lake."""
        return self.lake_root / name
