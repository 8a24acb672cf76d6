"""Quality through the stream (HANDBOOK §3): history → ingest → features; train on the book's training
week; the test week replayed through ingest → features → one scorer per candidate; metrics from the
`predictions` topic next to the offline evaluation of the same candidates."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks import signing_key
from services.common.config import KafkaSettings
from services.common.registry import Registry
from services.features.config import FeaturesSettings
from services.tools.config import ToolSettings
from services.tools.ops.offsets import caught_up
from services.tools.runtime.demo import reset_topics, snapshot, start_at_end, start_service, wait_until
from services.training.adapters.kafka_io import load_labels, publish_version
from services.training.candidates import CANDIDATES, decision_threshold, fit
from services.training.config import TrainSettings
from services.training.export import to_onnx_bytes
from services.training.job import labelled
from services.training.main import run_training
from usecases.fraud import FRAUD_V1
from usecases.fraud.demo.loop import at, window
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay
from usecases.fraud.simulator import SimulationConfig, simulate

__all__ = ["bench_quality"]

LIVE_RATE = 600.0  # events/s (transactions + labels) of the test week: what features sustains with room

console = Console()
HISTORY, TRAIN, TEST = (
    date(2018, 6, 18),
    (date(2018, 7, 25), date(2018, 8, 1)),
    (date(2018, 8, 8), date(2018, 8, 15)),
)


def _caught_up(s: ToolSettings, before: dict[str, int], n: int, ingest: Any, features: Any) -> float:
    """Seconds until ingest cleaned `n` more transactions and features emitted as many."""
    started = time.monotonic()

    def grown(topic: str) -> int:
        return snapshot(s, [topic])[topic] - before[topic]

    wait_until(lambda: grown("transactions.clean") >= n, ingest, "ingest", timeout_s=7200)
    wait_until(
        lambda: grown("transactions.features") >= grown("transactions.clean"), features, "features", 7200
    )
    return time.monotonic() - started


def _register_candidates(train: TrainSettings, fs: FeaturesSettings, names: list[str]) -> dict[str, Any]:
    from services.common.feast.history import training_set
    from services.common.feast.repo import apply

    hist = training_set(apply(fs), fs, at(TRAIN[0]), at(TRAIN[1])).frame
    fields = ("tx_id", "customer_id", "tx_event_time", "is_fraud")  # the fraud declaration's
    labels = load_labels(train.kafka, train.labels_topic, fields, at(TRAIN[0]), at(TRAIN[1]))
    frame = labelled(hist, labels, names, "tx_id", "customer_id")
    x, y = frame[names].to_numpy(dtype="float32"), frame["target"].astype(int).to_numpy()
    reg, published = Registry(train.registry_root), {}
    for kind in train.candidates:
        model = fit(CANDIDATES[kind], x, y, train.seed)
        card = {
            "name": f"quality-{kind}",
            "version": f"{kind}-{int(time.time())}",
            "kind": kind,
            "features": names,
            "threshold": decision_threshold(y, model.predict_proba(x)[:, 1]),
        }
        version = reg.write(card, to_onnx_bytes(model, len(names))).model_copy(update={"stage": "production"})
        publish_version(train.kafka, train.models_topic, version, signing_key())
        published[kind] = version
    console.print(f"trained on {len(frame):,} labelled transactions ({int(y.sum())} frauds)")
    return published


def _stream_metrics(kafka: KafkaSettings, lake: Path, models: list[str]) -> dict[str, dict[str, float]]:
    from usecases.fraud.demo.loop import stream_quality

    out = {}
    for name in models:
        q = stream_quality(kafka, lake, "labels", TEST[0], TEST[1], TRAIN[0], model_name=name)
        out[name] = q.metrics.as_dict() | {"unscored": float(q.unscored), "newer_rows_share": q.newer_rows}
    return out


def bench_quality(s: ToolSettings, redis_url: str, work: Path) -> dict[str, float]:
    """Run the whole protocol; returns flat figures (and prints the two tables)."""
    env = {"REDIS_URL": redis_url}
    lake, feast = work / "lake", work / "feast"
    fenv = env | {
        "FEATURES_GROUP_ID": f"quality-{int(time.time())}",
        "FEATURES_LAKE_ROOT": str(lake),
        "FEATURES_FEAST_DATA": str(feast),
    }
    reset_topics(s)
    with console.status("simulating 183 days…"):
        table = simulate(SimulationConfig())
    t0 = time.monotonic()
    ingest = start_service("services.ingest", work / "ingest.log", s, INGEST_LAKE_ROOT=str(lake), **env)
    features = start_service("services.features", work / "features.log", s, **fenv)
    scorers = []
    try:
        before = snapshot(s, ["transactions.clean", "transactions.features"])
        history = window(table, HISTORY, TEST[0])
        replay(s.kafka, build_stream(history), ReplayOptions())
        with console.status(f"history: {history.num_rows:,} transactions through ingest → features…"):
            took = _caught_up(s, before, history.num_rows, ingest, features)
        console.print(
            f"history {HISTORY} .. {TEST[0]}: {history.num_rows:,} transactions, {time.monotonic() - t0:.0f}s"
        )
        train = TrainSettings(registry_root=work / "models", kafka=s.kafka)
        fs = FeaturesSettings(lake_root=lake, feast_data=feast, redis_url=redis_url)
        published = _register_candidates(train, fs, FRAUD_V1.feature_names)
        groups = []
        for kind, version in published.items():
            group = f"quality-scorer-{kind}-{int(time.time())}"
            groups.append(group)
            start_at_end(s, group, "transactions.features")
            scorers.append(
                start_service(
                    "services.scorer",
                    work / f"scorer-{kind}.log",
                    s,
                    **env,
                    SCORER_MODEL_NAME=version.name,
                    SCORER_GROUP_ID=group,
                    SCORER_INSTANCE=kind,
                    SCORER_FEAST_DATA=str(feast),
                )
            )
        time.sleep(15)
        before = snapshot(s, ["transactions.clean", "transactions.features"])
        test = window(table, TEST[0], TEST[1])
        replay(s.kafka, build_stream(test), ReplayOptions(rate=LIVE_RATE))  # live: small batches
        with console.status(
            f"test week: {test.num_rows:,} transactions through ingest → features → scorers…"
        ):
            _caught_up(s, before, test.num_rows, ingest, features)
            # every scorer has consumed transactions.features to its end (a features event may come
            # twice: at least once on that topic; the scorers keep one prediction per tx_id)
            wait_until(
                lambda: all(caught_up(s.kafka, g, "transactions.features") for g in groups),
                scorers[0],
                "the scorers",
                timeout_s=1800,
            )
        stream = _stream_metrics(s.kafka, lake, [v.name for v in published.values()])
    finally:
        for proc in [ingest, features, *scorers]:
            proc.terminate()
        for proc in [ingest, features, *scorers]:
            proc.wait(60)
    report = run_training(
        train.model_copy(update={"model_name": "fraud"}), fs, at(TRAIN[0]), at(TRAIN[1]), lambda _t: None
    )
    from services.tools.cli.models import report_table

    console.print(report_table(report))
    figures: dict[str, float] = {"quality_history_seconds": took}
    for o in report.outcomes:
        for k, v in (o.metrics.as_dict() if o.metrics else {}).items():
            figures[f"offline_{o.kind}_{k}"] = v
    for model, metrics in stream.items():
        for k, v in metrics.items():
            figures[f"stream_{model.removeprefix('quality-')}_{k}"] = v
    return figures
