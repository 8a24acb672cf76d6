"""Steps of `rtloop demo`: replay a window through the running services and wait for each; train."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from services.common.errors import RtloopError
from services.tools.cli.app import console
from services.tools.config import ToolSettings
from services.tools.ops.lake import rows_and_version
from services.tools.ops.offsets import MessageCount, caught_up, end_offsets
from services.tools.runtime.demo import snapshot, wait_for
from services.training.job import Report
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, ReplayResult, replay

__all__ = ["Pass", "replay_labels", "replay_through", "train_and_publish", "wait_monitor"]


@dataclass
class Pass:
    """One replayed window and where its transactions went."""

    replayed: ReplayResult
    lake_rows: int
    rejected_rows: int

    @property
    def lost(self) -> int:
        """Replayed transactions found neither in Delta `transactions` nor in `transactions_rejected`."""
        return self.replayed.transactions - self.lake_rows - self.rejected_rows


def replay_through(
    s: ToolSettings,
    table: pa.Table,
    corrupt: float,
    ingest: subprocess.Popen[bytes],
    features: subprocess.Popen[bytes],
    step: str,
    scorer_group: str | None = None,
    rate: float | None = None,
    labels: bool = True,
    lake_group: str | None = None,
) -> Pass:
    """Replay `table` (and its labels unless `labels` is False; at `rate` events/s, or as fast as
    possible), then wait for ingest, features and (if given) the scorers of `scorer_group`."""
    lake_tx, lake_bad = s.lake_root / "transactions", s.lake_root / "transactions_rejected"
    rows0, bad0 = rows_and_version(lake_tx)[0], rows_and_version(lake_bad)[0]
    before = snapshot(s, ["transactions.clean"])
    featurized = MessageCount(s.kafka, "transactions.features", end_offsets(s.kafka, "transactions.features"))
    if rate:
        events = (2 if labels else 1) * table.num_rows
        console.print(f"{step} replaying {events:,} events at {rate:,.0f}/s (live)…")
    stream = build_stream(table)
    result = replay(
        s.kafka,
        stream if labels else stream.only(labels=False),
        ReplayOptions(corrupt_share=corrupt, rate=rate),
    )
    bad = sum(result.corrupted.values())
    console.print(
        f"{step} replayed {result.events:,} events ({bad} corrupted on purpose) at {result.rate:,.0f}/s"
    )
    procs = [ingest, features]
    took = wait_for(
        "ingest: Spark → Delta + transactions.clean",
        result.transactions,
        lambda: rows_and_version(lake_tx)[0] - rows0 + rows_and_version(lake_bad)[0] - bad0,
        procs,
    )
    clean = snapshot(s, ["transactions.clean"])["transactions.clean"] - before["transactions.clean"]
    try:
        took_f = wait_for(
            "features: windows → Feast online + Delta → transactions.features", clean, featurized, procs
        )
    finally:
        featurized.close()
    if lake_group is not None:  # the offline rows follow the events: training reads them
        took_f += wait_for(
            "features: Delta feature rows",
            1,
            lambda: int(caught_up(s.kafka, lake_group, "transactions.features")),
            procs,
        )
    line = f"{step} ingest took {took:.0f}s, features {took_f:.0f}s more"
    if scorer_group is not None:
        took_s = wait_for(
            "scorer: lookup + ONNX → predictions",
            1,
            lambda: int(caught_up(s.kafka, scorer_group, "transactions.features")),
            procs,
        )
        line += f", the scorer {took_s:.0f}s more"
    console.print(line)
    return Pass(result, rows_and_version(lake_tx)[0] - rows0, rows_and_version(lake_bad)[0] - bad0)


def replay_labels(s: ToolSettings, table: pa.Table, step: str) -> None:
    """The labels of `table` alone (their event times are a week after its transactions)."""
    result = replay(s.kafka, build_stream(table).only(labels=True), ReplayOptions())
    console.print(
        f"{step} replayed the week's {result.labels:,} labels (a week later in event time) "
        f"at {result.rate:,.0f}/s"
    )


def wait_monitor(
    s: ToolSettings, group: str, procs: list[subprocess.Popen[bytes]], topics: tuple[str, ...]
) -> float:
    """Until the monitor has processed everything on `topics`."""
    from services.tools.runtime.demo import group_drained

    label = f"monitor: {' + '.join(topics)} (catching up)"
    return wait_for(label, 1, lambda: int(group_drained(s, group, topics)), procs)


def train_and_publish(s: ToolSettings, fenv: dict[str, str], registry: Path, step: str) -> Report:
    """`rtloop train` on the book's training week, with the demo's lake and registry."""
    from services.common.config import load_settings
    from services.features.config import FeaturesSettings
    from services.tools.cli.models import report_table
    from services.training.config import TrainSettings
    from services.training.main import run_training
    from usecases.fraud.demo.loop import TRAIN_START, at

    train = load_settings(TrainSettings).model_copy(update={"registry_root": registry, "kafka": s.kafka})
    fs = load_settings(FeaturesSettings).model_copy(
        update={
            "lake_root": Path(fenv["FEATURES_LAKE_ROOT"]),
            "feast_data": Path(fenv["FEATURES_FEAST_DATA"]),
        }
    )
    with console.status("training: history → candidates → ONNX → registry…") as status:
        report = run_training(train, fs, at(TRAIN_START), at(TRAIN_START + timedelta(days=7)), status.update)
    console.print(report_table(report))
    if report.promoted is None:
        raise RtloopError(f"no model promoted ({report.reason}): the scorer would have nothing to serve")
    console.print(
        f"{step} trained; {report.reason}; {report.promoted.version} published on {train.models_topic!r}"
    )
    return report
