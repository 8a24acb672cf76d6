"""`rtloop demo --usecase recommendations`: MovieLens-100K through the whole loop — ingest, features,
training from the lake on the protocol's split, every interaction scored in time order, the monitor's
live metrics against the offline evaluation — then the simulator's drift phase and its alert."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from services.tools.cli.app import app, console, friendly, settings
from services.tools.config import ToolSettings
from services.tools.ops.offsets import end_offsets
from services.tools.runtime.broker import free_port
from services.tools.runtime.demo import group_drained, start_at_end, start_service, wait_for, wait_ready
from services.training.job import Report
from usecases.recommendations.demo.phases import (
    Deployment,
    replay_through,
    simulated,
    state_topic,
    train_and_publish,
)

__all__ = ["demo_cmd"]

DAY_S = 86_400.0
ONE_WINDOW_S = 20 * 365 * DAY_S  # MovieLens (1997-98) and the simulator (2026) fall in different ones


@dataclass
class Loop:
    """The running services of the demo, and where they log."""

    s: ToolSettings
    deployment: Deployment
    log_dir: Path
    procs: list[subprocess.Popen[bytes]]

    @property
    def lake_group(self) -> str:
        """The consumer group of the features deployment's Delta writer."""
        from services.features.config import FeaturesSettings

        return FeaturesSettings(group_id=self.deployment.features()["FEATURES_GROUP_ID"]).lake_group_id

    def start(self, module: str, log: str, env: dict[str, str], what: str) -> subprocess.Popen[bytes]:
        """Start a service (its health port in `env`) and wait until it is ready."""
        name = module.rsplit(".", 1)[-1].upper()
        proc = start_service(module, self.log_dir / log, self.s, **env)
        self.procs.append(proc)
        wait_ready(int(env[f"{name}_HEALTH_PORT"]), proc, what)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop one service (SIGTERM) and wait for it."""
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        self.procs.remove(proc)

    def drained(self, group: str, *topics: str) -> bool:
        """Whether `group` has processed everything on `topics`."""
        return group_drained(self.s, group, topics)


@app.command("demo")
@friendly
def demo_cmd(
    sim_users: Annotated[int, typer.Option(min=100, help="simulated users of the drift phase")] = 1_000,
    live_rate: Annotated[
        float, typer.Option(min=1, help="interactions/s of the simulator's live days")
    ] = 200,
    keep_broker: Annotated[bool, typer.Option(help="leave the broker running")] = False,
) -> None:
    """Replay MovieLens-100K (fetched and verified) through ingest and features, train the recommender
    from the lake on the protocol's split (each user's last interaction the test), score every interaction
    in time order and monitor it (live recall / NDCG / MRR @10 from the next interactions), compare the
    stream with the offline evaluation and the baselines; then train on a simulated week, stream its next
    days live, shift the popularity of 10% of the items and show the alert."""
    from services.tools.runtime.broker import EmbeddedBroker
    from services.tools.runtime.demo import reset_topics, wipe_lake
    from usecases.recommendations.movielens import fetch, load_interactions

    s = settings()
    if s.kafka.external:
        raise typer.BadParameter(
            "the recommendations demo runs on the embedded broker: unset KAFKA_BOOTSTRAP_SERVERS"
        )
    broker, t0 = EmbeddedBroker(s), time.monotonic()
    with console.status("starting Kafka…"):
        bootstrap = broker.start()
    console.print(f"1/8 Kafka ready at {bootstrap} in {time.monotonic() - t0:.1f}s")
    reset_topics(s)
    declared = s.declaration
    parent = s.lake_root.parent
    deployment = Deployment(
        str(int(time.time())),
        s.lake_root,
        parent / "feast-recommendations",
        parent / "models-recommendations",
    )
    wipe_lake(
        s.lake_root,
        (
            declared.event.table,
            f"{declared.event.table}_rejected",
            *(v.table_name for v in declared.features.views),
        ),
    )
    for folder in (deployment.feast, deployment.registry):
        shutil.rmtree(folder, ignore_errors=True)
    frame = load_interactions(fetch(s.cache_dir / "data" / "ml-100k"))
    console.print(
        f"2/8 topics re-created, lake reset; MovieLens-100K verified: {len(frame):,} interactions, "
        f"{frame['user'].nunique():,} users, {frame['item'].nunique():,} items (fetched, never copied)"
    )
    loop = Loop(s, deployment, s.cache_dir / "logs", [])
    loop.procs.append(
        start_service(
            "services.ingest", loop.log_dir / "ingest-reco.log", s, INGEST_LAKE_ROOT=str(s.lake_root)
        )
    )
    loop.procs.append(
        start_service("services.features", loop.log_dir / "features-reco.log", s, **deployment.features())
    )
    try:
        movielens = _movielens(loop, frame)
        drift, summaries = _drift_phase(loop, movielens, sim_users, live_rate)
    finally:
        for proc in loop.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in loop.procs:
            proc.wait(60)
    parity = _summary(loop, frame, movielens, summaries, drift, live_rate)
    if not keep_broker:
        broker.stop()
        console.print("broker stopped (data kept in the cache folder)")
    if not parity:
        raise typer.Exit(1)


@dataclass(frozen=True)
class Monitored:
    """A monitor deployment of the demo: its process and settings."""

    proc: subprocess.Popen[bytes]
    env: dict[str, str]

    def summaries(self, s: ToolSettings) -> list[Any]:
        """Its closed windows, from its changelog."""
        from services.monitor.config import MonitorSettings
        from services.monitor.history import from_json
        from services.monitor.main import restore_state

        state = restore_state(MonitorSettings(state_topic=self.env["MONITOR_STATE_TOPIC"], kafka=s.kafka))
        return [from_json(v) for _, v in sorted(state.summaries.items())]


@dataclass(frozen=True)
class MovieLens:
    """What the MovieLens phase left: the model, its monitor, the lake's counts."""

    report: Report
    monitor: Monitored
    lake: int
    rejected: int


def _movielens(loop: Loop, frame: pd.DataFrame) -> MovieLens:
    """Replay, train on the protocol's split, score every interaction from the start, monitor it (the
    monitor goes on: the next phase's first interaction closes its last window)."""
    s, deployment, t = loop.s, loop.deployment, loop.s.declaration.topics
    lake, rejected = replay_through(s, frame, loop.procs, loop.lake_group, "3/8")
    first, last = frame["time"].min().floor("D"), frame["time"].max().ceil("D") + timedelta(days=1)
    report = train_and_publish(s, deployment, (first.to_pydatetime(), last.to_pydatetime()), "4/8")
    env = deployment.scorer("ml", free_port())
    state = state_topic(s, f"{s.declaration.name}.monitor.state.{deployment.run_id}-ml")
    # one window for the whole replay (the scorer works through a backlog, so windows by event time would
    # be by arrival): the simulated week's first interaction, 28 years later, closes it
    menv = deployment.monitor("ml", free_port(), ONE_WINDOW_S, state)
    scorer = loop.start("services.scorer", "scorer-reco.log", env, "the scorer")
    monitor = loop.start("services.monitor", "monitor-reco.log", menv, "the monitor")
    group = env["SCORER_GROUP_ID"]
    took = wait_for(
        "scorer: every interaction, in time order",
        1,
        lambda: int(loop.drained(group, t.features)),
        loop.procs,
    )
    group = menv["MONITOR_GROUP_ID"]
    wait_for(
        "monitor: recommendations + next interactions",
        1,
        lambda: int(loop.drained(group, t.predictions, t.clean)),
        loop.procs,
    )
    console.print(
        f"5/8 the scorer answered every interaction in {took:.0f}s; the monitor joined each with the next"
    )
    loop.stop(scorer)  # the simulated week that comes next is history to train on: nothing to answer
    return MovieLens(report, Monitored(monitor, menv), lake, rejected)


@dataclass(frozen=True)
class Drift:
    """What the drift phase left: the model, where the live days start on each topic and on alerts."""

    report: Report
    live_from: dict[str, dict[int, int]]
    alerts_from: dict[int, int]


def _drift_phase(loop: Loop, movielens: MovieLens, users: int, rate: float) -> tuple[Drift, list[Any]]:
    """Train on a simulated week (its first interaction closes MovieLens's last window), then stream the
    next days live, the popularity of 10% of the items shifted from the second; and MovieLens's windows."""
    from services.tools.ops.hops import loop_topics
    from usecases.recommendations.simulator import SimConfig, World

    s, deployment, t = loop.s, loop.deployment, loop.s.declaration.topics
    world = World(SimConfig(users=users, seed=7))
    replay_through(s, simulated(world, 7, 0), loop.procs, loop.lake_group, "6/8 a simulated week:")
    start = world.config.start
    report = train_and_publish(s, deployment, (start, start + timedelta(days=7)), "6/8")
    ml = movielens.monitor
    group = ml.env["MONITOR_GROUP_ID"]
    wait_for(
        "monitor: MovieLens's last window",
        1,
        lambda: int(bool(ml.summaries(s)) and loop.drained(group, t.clean)),
        loop.procs,
    )
    summaries = ml.summaries(s)
    loop.stop(ml.proc)
    env = deployment.scorer("sim", free_port())
    menv = deployment.monitor(
        "sim",
        free_port(),
        DAY_S,
        state_topic(s, f"{s.declaration.name}.monitor.state.{deployment.run_id}-sim"),
    )
    start_at_end(s, env["SCORER_GROUP_ID"], t.features)
    for topic in (t.predictions, t.clean):
        start_at_end(s, menv["MONITOR_GROUP_ID"], topic)
    alerts_from = end_offsets(s.kafka, t.alerts)
    loop.start("services.scorer", "scorer-reco-sim.log", env, "the scorer")
    loop.start("services.monitor", "monitor-reco-sim.log", menv, "the monitor")
    live_from = {topic: end_offsets(s.kafka, topic) for topic in loop_topics(s.declaration)}
    replay_through(s, simulated(world, 1, 7), loop.procs, loop.lake_group, "7/8 day 8 (steady):", rate=rate)
    shifted = world.shift_popularity(0.1, 2.0)
    console.print(f"7/8 the popularity of {len(shifted)} items (10%) shifted: log popularity + 2")
    for day in (8, 9, 10):
        replay_through(
            s,
            simulated(world, 1, day),
            loop.procs,
            loop.lake_group,
            f"7/8 day {day + 1} (shifted):",
            rate=rate,
        )
    group = menv["MONITOR_GROUP_ID"]
    wait_for(
        "monitor: the live days", 1, lambda: int(loop.drained(group, t.predictions, t.clean)), loop.procs
    )
    return Drift(report, live_from, alerts_from), summaries


def _summary(
    loop: Loop, frame: pd.DataFrame, movielens: MovieLens, summaries: list[Any], drift: Drift, rate: float
) -> bool:
    """Stream against offline on MovieLens, the live days' latency, the alerts; whether there is parity."""
    import onnxruntime as ort

    from services.tools.ops.hops import hop_latencies
    from services.tools.runtime.demo import alerts_after
    from usecases.recommendations.demo.measure import measure, monitor_quality, stream_lists
    from usecases.recommendations.demo.tables import show_alerts, show_latency, show_metrics

    s, report = loop.s, movielens.report
    assert report.promoted is not None  # train_and_publish raised otherwise
    with console.status(
        "measuring: the stream's lists against the model's offline lists, and the baselines…"
    ):
        session = ort.InferenceSession(report.promoted.uri, providers=["CPUExecutionProvider"])
        metrics, joined = monitor_quality(summaries)
        trained = report.outcomes[0].metrics
        card = trained.as_dict() if trained is not None else {}
        measured = measure(frame, stream_lists(s), session, metrics, card)
    show_metrics(measured, joined, movielens.lake, movielens.rejected)
    show_latency(hop_latencies(s.kafka, s.declaration, drift.live_from), rate)
    version = drift.report.promoted.version if drift.report.promoted else "?"
    show_alerts(alerts_after(s, drift.alerts_from, s.declaration.topics.alerts), version)
    console.print(
        f"8/8 logs: {loop.log_dir}   lake: {s.lake_root}   models: {loop.deployment.registry}", soft_wrap=True
    )
    return measured.parity
