"""monitor benchmarks: one drift check of a 10k x 15 window against the precomputed reference, next to
Evidently's DataDriftPreset on the same data (which recomputes from the raw reference); predictions/s of
one monitor process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from benchmarks import signing_key
from benchmarks.foundation import _topic, rate_until
from services.common.config import KafkaSettings
from services.common.drift import Reference, drift
from services.common.kafka.clients import make_admin
from services.common.kafka.delivery import deliver
from services.common.kafka.envelope import Output
from services.common.registry import Registry
from services.tools.config import PROJECT_ROOT
from services.tools.ops.offsets import committed_offsets, total
from services.training.adapters.kafka_io import publish_version
from usecases.fraud import FRAUD_V1

__all__ = ["bench_drift", "bench_monitor"]


def _data(rng: np.random.Generator, n: int) -> np.ndarray:
    """15 columns shaped like the model inputs: 13 skewed continuous ones, two 0/1 flags."""
    continuous = rng.gamma(2.0, 30.0, size=(n, 13))
    flags = (rng.random((n, 2)) < (2 / 7, 0.3)).astype(float)
    return np.column_stack([continuous[:, :1], flags, continuous[:, 1:]])


def bench_drift(reference_rows: int = 67_240, window_rows: int = 10_000) -> dict[str, float]:
    """Seconds per drift check (median of 20) vs Evidently's preset (median of 3), same data."""
    import pandas as pd

    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(15)]
    ref_x, cur_x = _data(rng, reference_rows), _data(rng, window_rows)
    t = time.perf_counter()
    reference = Reference.from_matrix(ref_x, names)
    build = time.perf_counter() - t
    ours = []
    for _ in range(20):
        t = time.perf_counter()
        drift(reference, cur_x)
        ours.append(time.perf_counter() - t)
    t = time.perf_counter()
    from evidently import Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter() - t
    ref_df, cur_df = pd.DataFrame(ref_x, columns=names), pd.DataFrame(cur_x, columns=names)
    theirs = []
    for _ in range(3):
        t = time.perf_counter()
        Report([DataDriftPreset()]).run(cur_df, ref_df)
        theirs.append(time.perf_counter() - t)
    return {
        "monitor_reference_build_s": build,
        "monitor_drift_check_10k_s": float(np.median(ours)),
        "monitor_evidently_preset_10k_s": float(np.median(theirs)),
        "monitor_evidently_import_s": imported,
        "monitor_drift_speedup": float(np.median(theirs) / np.median(ours)),
    }


def bench_monitor(kafka: KafkaSettings, n: int = 200_000) -> dict[str, float]:
    """Predictions/s one `python -m services.monitor` keeps up with, labels flowing at the same rate: a
    backlog of n predictions and their n labels, timed from its first to its last committed batch."""
    rng = np.random.default_rng(2)
    names = list(FRAUD_V1.feature_names)
    with tempfile.TemporaryDirectory(prefix="rtloop-bench-monitor-") as tmp:
        work, stamp = Path(tmp), time.time_ns()
        topics = {k: _topic(kafka, f"bench.monitor.{k}.{stamp}", p) for k, p in _PARTITIONS.items()}
        admin = make_admin(kafka)
        state = f"bench.monitor.state.{stamp}"
        admin.create_topics([NewTopic(state, 1, 1, config={"cleanup.policy": "compact"})])[state].result(30)
        x = _data(rng, n)
        reference = {
            "inputs": Reference.from_matrix(x[:20_000], names, "bench").to_dict(),
            "score": Reference.from_matrix(rng.beta(1, 20, (20_000, 1)), ["score"], "bench").to_dict(),
        }
        card = {"name": "fraud", "version": "bench", "kind": "logreg", "features": names, "threshold": 0.5}
        version = (
            Registry(work / "models")
            .write(card, b"onnx", reference)
            .model_copy(update={"stage": "production"})
        )
        publish_version(kafka, topics["models"], version, signing_key())
        start = datetime(2018, 8, 15, tzinfo=UTC).timestamp()
        scores = rng.beta(1, 20, n)
        predictions, labels = [], []
        for i in range(n):
            when = datetime.fromtimestamp(start + 5 * i, UTC).isoformat()
            doc = {
                "tx_id": f"b{i}",
                "customer_id": f"c{i % 5000}",
                "terminal_id": "t",
                "event_time": when,
                "score": float(scores[i]),
                "decision": False,
                "threshold": 0.5,
                "model_name": "fraud",
                "model_version": "bench",
                "features": dict(zip(names, x[i].tolist(), strict=True)),
                "latency_ms": {"lookup": 1.0, "inference": 1.0, "total": 2.0, "end_to_end": 50.0},
                "scored_at": when,
                "shadow": False,
            }
            predictions.append(Output(topics["predictions"], orjson.dumps(doc), f"c{i % 5000}".encode()))
            label = {
                "tx_id": f"b{i}",
                "customer_id": f"c{i % 5000}",
                "terminal_id": "t",
                "is_fraud": bool(rng.random() < scores[i]),
                "tx_event_time": when,
                "label_time": when,
            }
            labels.append(Output(topics["labels"], orjson.dumps(label), f"c{i % 5000}".encode()))
        producer = Producer(kafka.librdkafka() | {"linger.ms": 20, "batch.size": 1_000_000})
        deliver(producer, predictions + labels, timeout_s=120, service="bench")
        group = f"bench-monitor-{stamp}"
        env = dict(os.environ) | {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "MONITOR_GROUP_ID": group,
            "MONITOR_HEALTH_PORT": "0",
            "MONITOR_PREDICTIONS_TOPIC": topics["predictions"],
            "MONITOR_LABELS_TOPIC": topics["labels"],
            "MONITOR_DLQ_TOPIC": topics["dlq"],
            "MONITOR_ALERTS_TOPIC": topics["alerts"],
            "MONITOR_MODELS_TOPIC": topics["models"],
            "MONITOR_STATE_TOPIC": state,
            "MONITOR_REGISTRY_ROOT": str(work / "models"),
            "MONITOR_REPORTS_DIR": str(work / "reports"),
        }
        log = (work / "monitor.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.monitor"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
        )
        try:
            rate = rate_until(
                lambda: total(committed_offsets(kafka, group, topics["predictions"])),
                n,
                proc,
                f"the monitor (see {work / 'monitor.log'})",
                poll_s=0.2,
            )
        finally:
            proc.terminate()
            proc.wait(30)
    return {"monitor_predictions_per_s": rate, "monitor_messages_per_s": 2 * rate}


_PARTITIONS = {"predictions": 6, "labels": 6, "dlq": 1, "alerts": 1, "models": 1}
