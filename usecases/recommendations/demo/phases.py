"""The phases of the recommendations demo: interactions replayed through ingest and features and waited
for, a model trained from the lake and published, a scorer and a monitor deployed, and the simulator's
days turned into interactions."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from services.common.errors import RtloopError
from services.common.kafka.changelog import create_internal_topics
from services.tools.cli.app import console
from services.tools.config import ToolSettings
from services.tools.ops.lake import rows_and_version
from services.tools.ops.offsets import MessageCount, caught_up, end_offsets
from services.tools.runtime.demo import snapshot, wait_for
from services.training.job import Report
from usecases.recommendations.replay import replay_interactions
from usecases.recommendations.simulator import World, organic

__all__ = ["Deployment", "replay_through", "simulated", "state_topic", "train_and_publish"]


@dataclass(frozen=True)
class Deployment:
    """The demo's services: their groups, lake, Feast data and registry (fresh for each run)."""

    run_id: str
    lake: Path
    feast: Path
    registry: Path

    def features(self) -> dict[str, str]:
        return {
            "FEATURES_GROUP_ID": f"rtloop-features-reco-{self.run_id}",
            "FEATURES_LAKE_ROOT": str(self.lake),
            "FEATURES_FEAST_DATA": str(self.feast),
        }

    def scorer(self, phase: str, port: int) -> dict[str, str]:
        return {
            "SCORER_GROUP_ID": f"rtloop-scorer-reco-{self.run_id}-{phase}",
            "SCORER_FEAST_DATA": str(self.feast),
            "SCORER_INSTANCE": f"reco-{self.run_id}-{phase}",
            "SCORER_HEALTH_PORT": str(port),
        }

    def monitor(self, phase: str, port: int, window_s: float, state: str) -> dict[str, str]:
        return {
            "MONITOR_GROUP_ID": f"rtloop-monitor-reco-{self.run_id}-{phase}",
            "MONITOR_TRANSACTIONAL_ID": f"rtloop-monitor-reco-{self.run_id}-{phase}",
            "MONITOR_STATE_TOPIC": state,
            "MONITOR_REGISTRY_ROOT": str(self.registry),
            "MONITOR_REPORTS_DIR": str(self.lake / "reports" / f"reco-{self.run_id}-{phase}"),
            "MONITOR_HEALTH_PORT": str(port),
            "MONITOR_WINDOW_SECONDS": str(window_s),
            "MONITOR_LABEL_TTL_DAYS": "400",  # ML-100K: a user's next interaction may come months later
            "MONITOR_QUALITY_MIN_LABELLED": "200",
        }


def state_topic(s: ToolSettings, name: str) -> str:
    """A fresh compacted changelog for one monitor deployment of the demo."""
    compact = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "max.message.bytes": "8388608"}
    create_internal_topics(s.kafka, s.declaration.topics.alerts, {name: compact}, "demo")
    return name


def replay_through(
    s: ToolSettings,
    frame: pd.DataFrame,
    procs: list[subprocess.Popen[bytes]],
    lake_group: str,
    step: str,
    rate: float | None = None,
) -> tuple[int, int]:
    """Replay `frame`'s interactions (at `rate` per second, or as fast as it goes), then wait until ingest
    wrote them (Delta and the clean topic) and features answered every clean one (the features topic and
    its Delta rows). The interactions in the lake and those rejected."""
    declared = s.declaration
    t = declared.topics
    table = s.lake_root / declared.event.table
    rejected = s.lake_root / f"{declared.event.table}_rejected"
    rows0, bad0 = rows_and_version(table)[0], rows_and_version(rejected)[0]
    clean0 = snapshot(s, [t.clean])[t.clean]
    featurized = MessageCount(s.kafka, t.features, end_offsets(s.kafka, t.features))
    pace = f" at {rate:,.0f}/s (live)" if rate else ""
    with console.status(f"{step} replaying {len(frame):,} interactions{pace}…"):
        sent = replay_interactions(s.kafka, t.raw, frame, rate=rate)
    took = wait_for(
        "ingest: Spark → Delta + clean topic",
        sent,
        lambda: rows_and_version(table)[0] - rows0 + rows_and_version(rejected)[0] - bad0,
        procs,
    )
    clean = snapshot(s, [t.clean])[t.clean] - clean0
    try:
        took_f = wait_for(
            "features: user and item windows → online + Delta + features topic", clean, featurized, procs
        )
    finally:
        featurized.close()
    took_f += wait_for(
        "features: Delta feature rows", 1, lambda: int(caught_up(s.kafka, lake_group, t.features)), procs
    )
    lake, bad = rows_and_version(table)[0] - rows0, rows_and_version(rejected)[0] - bad0
    console.print(f"{step} {sent:,} replayed: ingest took {took:.0f}s, features {took_f:.0f}s more")
    return lake, bad


def train_and_publish(
    s: ToolSettings, deployment: Deployment, window: tuple[datetime, datetime], step: str
) -> Report:
    """`rtloop train` on the window (each user's last interaction the test), then published."""
    from services.common.config import load_settings
    from services.features.config import FeaturesSettings
    from services.tools.cli.models import report_table
    from services.training.config import TrainSettings
    from services.training.main import run_training

    train = load_settings(TrainSettings).model_copy(
        update={"registry_root": deployment.registry, "kafka": s.kafka}
    )
    fs = load_settings(FeaturesSettings).model_copy(
        update={"lake_root": deployment.lake, "feast_data": deployment.feast}
    )
    with console.status("training: Feast history → retrieval + ranker → ONNX → registry…") as status:
        report = run_training(train, fs, *window, status.update)
    console.print(report_table(report))
    if report.promoted is None:
        raise RtloopError(f"no model promoted ({report.reason}): the scorer would have nothing to serve")
    console.print(f"{step} {report.reason}; {report.promoted.version} published on {train.models_topic!r}")
    return report


def simulated(world: World, days: int, start_day: int) -> pd.DataFrame:
    """The simulator's organic views of these days as interactions: ids prefixed `s` (apart from
    MovieLens's), the row numbers going on from the day's start."""
    views = organic(world, days=days, start_day=start_day)
    return pd.DataFrame(
        {
            "user": "s" + views["user"].astype(str),
            "item": "s" + views["item"].astype(str),
            "time": views["time"],
            "action": views["action"],
            "row": [f"d{start_day}n{i}" for i in range(len(views))],
        }
    )
