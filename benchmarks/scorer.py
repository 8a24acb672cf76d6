"""scorer benchmarks: events/s of one process vs a naive per-message scorer, ONNX batch latency per model,
and CUDA vs CPU for the MLP when a GPU answers."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Producer

from benchmarks import signing_key
from benchmarks.foundation import _topic, rate_until
from services.common.config import KafkaSettings
from services.common.contracts import ModelVersionV1
from services.common.feast_online import open_reader
from services.common.feast_online_writers import open_writer
from services.common.feature_services import online_store_config
from services.common.kafka.clients import make_producer
from services.common.kafka.delivery import deliver
from services.common.kafka.envelope import Output
from services.common.registry import Registry, verify_model
from services.scorer.adapters.onnx_runtime import LoadedModel, load_model
from services.tools.config import PROJECT_ROOT
from services.tools.ops.offsets import end_offsets, total
from services.training.adapters.kafka_io import publish_version
from services.training.candidates import CANDIDATES, fit
from services.training.export import to_onnx_bytes
from usecases.fraud import FRAUD_V1

__all__ = ["bench_onnx", "bench_scorer"]

NAMES = FRAUD_V1.feature_names
ENTITIES = 10_000


def _model(root: Path, kind: str) -> ModelVersionV1:
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, 30.0, size=(20_000, len(NAMES))).astype(np.float32)
    y = (x[:, 0] + x[:, 3] + rng.normal(0, 20, len(x)) > 220).astype(int)
    card = {"name": "fraud", "version": f"bench-{kind}", "kind": kind, "features": NAMES, "threshold": 0.5}
    return Registry(root).write(card, to_onnx_bytes(fit(CANDIDATES[kind], x, y), len(NAMES)))


def _load(version: ModelVersionV1, providers: list[str]) -> LoadedModel:
    return load_model(version, verify_model(version, NAMES), providers)


def bench_onnx(root: Path, sizes: tuple[int, ...] = (1, 8, 64, 512, 2048, 8192)) -> dict[str, float]:
    """Median ms per ONNX Runtime call on CPU, per model kind and batch size; CUDA vs CPU for the MLP."""
    out: dict[str, float] = {}
    rng = np.random.default_rng(1)
    for kind in CANDIDATES:
        model = _load(_model(root, kind), ["CPUExecutionProvider"])
        for n in sizes:
            x = rng.gamma(2.0, 30.0, size=(n, len(NAMES))).astype(np.float32)
            times = []
            for _ in range(max(5, min(200, 20_000 // n))):
                t = time.perf_counter()
                model.predict(x)
                times.append((time.perf_counter() - t) * 1000)
            out[f"onnx_{kind}_batch{n}_ms"] = float(np.median(times))
    gpu = _load(_model(root, "mlp"), ["CUDAExecutionProvider", "CPUExecutionProvider"])
    if gpu.provider == "CUDAExecutionProvider":
        x = rng.gamma(2.0, 30.0, size=(8192, len(NAMES))).astype(np.float32)
        times = []
        for _ in range(50):
            t = time.perf_counter()
            gpu.predict(x)
            times.append((time.perf_counter() - t) * 1000)
        out["onnx_mlp_batch8192_cuda_ms"] = float(np.median(times))
        out["onnx_mlp_cuda_vs_cpu"] = out["onnx_mlp_batch8192_ms"] / out["onnx_mlp_batch8192_cuda_ms"]
    return out


def _events(n: int) -> list[tuple[bytes, bytes]]:
    """Featurized events as the features service emits them (with their own rows of every view)."""
    now = "2018-08-08T10:00:00+00:00"
    customer_view, terminal_view = (view.features for view in FRAUD_V1.views)
    pairs = []
    for i in range(n):
        c, t = i % ENTITIES, (i * 7) % ENTITIES
        doc = {
            "tx_id": f"b{i}",
            "event_time": now,
            "customer_id": str(c),
            "terminal_id": str(t),
            "amount": 10.0,
            "currency": "EUR",
            "ingest_time": now,
            "source_partition": 0,
            "source_offset": i,
            "features_written_at": now,
            "feature_service": "fraud_v1",
            "features": {f: float(c + j) for j, f in enumerate(customer_view)}
            | {f: float(t + j) for j, f in enumerate(terminal_view)},
        }
        pairs.append((str(c).encode(), orjson.dumps(doc)))
    return pairs


def _fill(kafka: KafkaSettings, topic: str, pairs: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(kafka.librdkafka() | {"linger.ms": 20, "batch.size": 1_000_000})
    deliver(producer, [Output(topic, value, key) for key, value in pairs], timeout_s=60, service="bench")


def _naive(
    kafka: KafkaSettings, model: LoadedModel, reader: Any, pairs: list[tuple[bytes, bytes]], out: str
) -> float:
    """One lookup, one inference, one produce (waited for) per event."""
    customer, terminal = FRAUD_V1.views
    producer = make_producer(kafka)
    t = time.perf_counter()
    for _key, value in pairs:
        doc = orjson.loads(value)
        rows = reader.read_views([(customer, [doc["customer_id"]]), (terminal, [doc["terminal_id"]])])
        x = np.array(
            [
                [(rows[0][0] or {}).get(f, 0.0) for f in customer.features]
                + [(rows[1][0] or {}).get(f, 0.0) for f in terminal.features]
            ],
            dtype=np.float32,
        )
        score = float(model.predict(x)[0])
        producer.produce(out, value=orjson.dumps({"tx_id": doc["tx_id"], "score": score}), key=_key)
        producer.flush(10)
    return len(pairs) / (time.perf_counter() - t)


def _scorer_process(
    kafka: KafkaSettings, env: dict[str, str], topics: dict[str, str], n: int, work: Path
) -> float:
    """Events/s of `python -m services.scorer` on a backlog of n events (first to last prediction)."""
    import os

    environ = (
        dict(os.environ)
        | env
        | {
            "SCORER_FEATURES_TOPIC": topics["in"],
            "SCORER_PREDICTIONS_TOPIC": topics["out"],
            "SCORER_MODELS_TOPIC": topics["models"],
            "SCORER_ALERTS_TOPIC": topics["alerts"],
            "SCORER_GROUP_ID": f"bench-scorer-{time.time_ns()}",
            "SCORER_HEALTH_PORT": "0",
            "SCORER_FEAST_DATA": str(work / "feast"),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        }
    )
    log = (work / "scorer.log").open("ab")
    profile = os.environ.get("RTLOOP_BENCH_PROFILE")  # a path: the scorer runs under cProfile
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    proc = subprocess.Popen(
        [sys.executable, *prefix, "-m", "services.scorer"],
        cwd=PROJECT_ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # offsets include one transaction marker per partition per batch (~0.1% at 5,000 per batch)
        return rate_until(
            lambda: total(end_offsets(kafka, topics["out"])),
            n,
            proc,
            f"the scorer (see {work / 'scorer.log'})",
        )
    finally:
        proc.terminate()
        proc.wait(30)


def bench_scorer(
    kafka: KafkaSettings, redis_url: str | None, n: int = 300_000, naive_n: int = 3_000
) -> dict[str, float]:
    """Scorer process vs naive loop, same broker, same store, same model."""
    with tempfile.TemporaryDirectory(prefix="rtloop-bench-scorer-") as tmp:
        work = Path(tmp)
        store = online_store_config(redis_url, work / "feast")
        (work / "feast").mkdir()
        customer, terminal = FRAUD_V1.views
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        writer = open_writer(store, "rtloop")
        ids = [str(i) for i in range(ENTITIES)]
        writer.write(
            [
                [(customer, i, dict.fromkeys(customer.features, 1.0), now) for i in ids]
                + [(terminal, i, dict.fromkeys(terminal.features, 0.1), now) for i in ids]
            ]
        )
        version = _model(work / "models", "lgbm").model_copy(update={"stage": "production"})
        topics = {
            k: _topic(kafka, f"bench.scorer.{k}.{time.time_ns()}", 6 if k in ("in", "out") else 1)
            for k in ("in", "out", "models", "alerts", "naive")
        }
        publish_version(kafka, topics["models"], version, signing_key())
        pairs = _events(n)
        _fill(kafka, topics["in"], pairs)
        env = {"REDIS_URL": redis_url} if redis_url else {}
        rate = _scorer_process(kafka, env, topics, n, work)
        reader = open_reader(store, "rtloop")
        naive = _naive(
            kafka, _load(version, ["CPUExecutionProvider"]), reader, pairs[:naive_n], topics["naive"]
        )
        reader.close()
    return {"scorer_events_per_s": rate, "scorer_naive_events_per_s": naive, "scorer_vs_naive": rate / naive}
