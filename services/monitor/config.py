"""Settings of the monitor (prefix MONITOR_)."""

from __future__ import annotations

from operator import attrgetter
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.config import ServiceSettings
from services.common.evaluation import evaluation_for
from services.monitor.transforms import Checks

__all__ = ["MonitorSettings"]

_ROOT = Path(__file__).resolve().parents[2]


class MonitorSettings(ServiceSettings):
    """Topics, windows, the label join's TTL, the checks' thresholds and alert hysteresis."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="ignore")
    declared = ServiceSettings.declared | {
        "predictions_topic": attrgetter("topics.predictions"),
        "labels_topic": lambda uc: uc.topics.feedback or uc.topics.clean,
        "alerts_topic": attrgetter("topics.alerts"),
        "models_topic": attrgetter("topics.models"),
        "model_name": attrgetter("model.name"),
        "label_ttl_days": attrgetter("monitor.feedback_ttl_days"),
        "drift_threshold": attrgetter("monitor.drift_threshold"),
        "min_drifted_features": attrgetter("monitor.min_drifted_features"),
        "drift_ignore": lambda uc: list(uc.monitor.drift_ignore),
        "quality": lambda uc: dict(uc.monitor.quality),
    }

    group_id: str = Field(default="rtloop-monitor", description="consumer group")
    predictions_topic: str = Field(default="", description="default: the use case's topics.predictions")
    labels_topic: str = Field(
        default="",
        description="default: the use case's topics.feedback (next-event feedback: its topics.clean)",
    )
    alerts_topic: str = Field(default="", description="default: the use case's topics.alerts")
    models_topic: str = Field(default="", description="default: the use case's topics.models")
    state_topic: str = Field(
        default="monitor.state", description="compacted changelog of the join, window and alert state"
    )
    model_name: str = Field(default="", description="default: the use case's model.name")
    registry_root: Path = Field(default=_ROOT / "data" / "models", description="model cards and references")
    reports_dir: Path = Field(
        default=_ROOT / "data" / "lake" / "reports", description="Evidently HTML reports"
    )
    max_batch_size: int = Field(
        default=5000, ge=1, le=100_000, description="a batch holds at most this many messages"
    )
    max_value_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1,
        description="it reads the dead-letter topic (values up to 8 MB): a lower limit would loop its "
        "own dead letters",
    )
    window_size: int = Field(default=10_000, ge=100, description="predictions per window")
    window_seconds: float | None = Field(
        default=None,
        gt=0,
        description="event-time windows of this length instead (the clock: predictions' event time "
        "and labels' label_time), so label-only periods close windows too",
    )
    label_ttl_days: float = Field(
        default=10.0, gt=0, description="event-time days a prediction waits for its label (labels: 7 days)"
    )
    max_join_entries: int = Field(
        default=2_000_000,
        ge=1,
        description="the label join holds at most this many predictions and labels (~330 bytes each: "
        "0.7 GB, within the 2 GiB k8s limit); past it the oldest leave first, counted in "
        "rtloop_monitor_join_evicted, so a flood of predictions bounds memory, not the TTL",
    )
    raise_after: int = Field(default=2, ge=1, description="bad windows in a row that raise an alert")
    clear_after: int = Field(default=3, ge=1, description="good windows in a row that clear it")
    drift_threshold: float = Field(
        default=0.1,
        gt=0,
        description="drift score at which an input drifts (Evidently's default for both tests); a window "
        "of a few hundred rows varies more than that by chance",
    )
    min_drifted_features: int = Field(
        default=1, ge=1, description="drifted inputs in a window that raise a drift alert"
    )
    drift_ignore: list[str] = Field(
        default=[],
        description="inputs whose drift is shown but never alerted (default: the use case's "
        "monitor.drift_ignore): a calendar flag's share follows the window's span, not the data",
    )
    quality_min_labelled: int = Field(
        default=2_000, ge=1, description="labelled predictions a window needs before its quality is judged"
    )
    quality_min_positives: int = Field(
        default=5, ge=1, description="positive targets (frauds) a window needs before its quality is judged"
    )
    quality: dict[str, float] = Field(
        default={},
        description="metric → its least acceptable value per window, as JSON (default: the use case's "
        'monitor.quality), e.g. {"auc_roc": 0.75}',
    )
    max_dlq_rate: float = Field(
        default=0.05, ge=0, le=1, description="dead letters per event above which a window is bad (dlq_rate)"
    )
    dlq_min_events: int = Field(default=200, ge=1, description="events a window needs for a dlq rate")
    max_end_to_end_p99_ms: float = Field(
        default=5_000.0, gt=0, description="end-to-end p99 above which a window is bad (freshness)"
    )
    transactional_id: str | None = Field(default=None, description="default <group>-<host>")

    @property
    def checks(self) -> Checks:
        """The thresholds as the pure checks take them, with the use case's metrics (ConfigError when
        `quality` names one it does not have)."""
        evaluation = evaluation_for(self.declaration)
        evaluation.require(tuple(self.quality), "MONITOR_QUALITY (or the declaration's monitor.quality)")
        return Checks(
            min_drifted_features=self.min_drifted_features,
            drift_threshold=self.drift_threshold,
            quality_min_labelled=self.quality_min_labelled,
            quality_min_positives=self.quality_min_positives,
            quality=self.quality,
            metrics=evaluation.metrics,
            max_dlq_rate=self.max_dlq_rate,
            dlq_min_events=self.dlq_min_events,
            max_end_to_end_p99_ms=self.max_end_to_end_p99_ms,
            ignore=frozenset(self.drift_ignore),
        )
