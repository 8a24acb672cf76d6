"""The scorer process on the recommendations declaration: requests/s on a backlog at N = 100 and 1,000
candidates (a MovieLens-sized catalog), and the scoring hop (featurized event produced → its
recommendation readable, read_committed) p50/p99 at a paced 100 and 1,000 requests/s, N = 100."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Consumer, Producer

from benchmarks import signing_key
from benchmarks.foundation import _topic, rate_until
from benchmarks.scorer import _fill
from services.common.config import KafkaSettings
from services.common.registry import Registry
from services.common.usecase import load_usecase
from services.tools.config import PROJECT_ROOT
from services.tools.ops.offsets import end_offsets, total
from services.tools.ops.pacing import Pacer
from services.training.adapters.kafka_io import publish_version
from services.training.ranker import fit_ranker
from services.training.retrieval import item_tables, recommender_onnx

__all__ = ["bench_recommendation_scorer"]

RECO = load_usecase("recommendations")
ITEMS, USERS = 1_682, 943


def _recommender(root: Path, n: int) -> Any:
    """A recommender over a MovieLens-sized catalog (Zipf popularity), registered and promoted."""
    ranking = RECO.model.ranking
    assert ranking is not None
    rng = np.random.default_rng(0)
    catalog = [str(i) for i in range(ITEMS)]
    popular = rng.zipf(1.3, 100_000) % ITEMS
    tables = item_tables(
        [str(u) for u in rng.integers(0, USERS, 100_000)],
        [catalog[i] for i in popular],
        np.arange(100_000.0),
        catalog,
    )
    x = rng.normal(size=(5_000, len(tables.features))).astype(np.float32)
    onnx = recommender_onnx(
        tables, fit_ranker(x, (x[:, 0] > 1).astype(int)), n, 10, ranking.recent, ranking.seen
    )
    names = [ranking.recent, ranking.seen]
    card = {"name": RECO.model.name, "version": f"n{n}", "kind": "mlp", "features": names, "threshold": 0.0}
    registry = Registry(root)
    registry.write(card, onnx)
    return registry.set_stage(RECO.model.name, f"n{n}", "production")


def _event(i: int, ingest: str) -> tuple[bytes, bytes]:
    """A featurized interaction carrying its user's lists (100 seen items, the last 5 recent)."""
    ranking = RECO.model.ranking
    assert ranking is not None
    user = i % USERS
    seen = [str((user * 37 + j * 11) % ITEMS) for j in range(100)]
    doc = {
        "interaction_id": f"b{i}",
        "event_time": ingest,
        "user_id": str(user),
        "item_id": seen[-1],
        "action": "rating",
        "ingest_time": ingest,
        "source_partition": 0,
        "source_offset": i,
        "features_written_at": ingest,
        "feature_service": RECO.features.service,
        "features": {ranking.recent: seen[-5:], ranking.seen: seen},
    }
    return str(user).encode(), orjson.dumps(doc)


def _start(kafka: KafkaSettings, topics: dict[str, str], work: Path) -> subprocess.Popen[bytes]:
    (work / "feast").mkdir(exist_ok=True)
    env = dict(os.environ) | {
        "RTLOOP_USECASE": "recommendations",
        "SCORER_FEATURES_TOPIC": topics["in"],
        "SCORER_PREDICTIONS_TOPIC": topics["out"],
        "SCORER_MODELS_TOPIC": topics["models"],
        "SCORER_ALERTS_TOPIC": topics["alerts"],
        "SCORER_GROUP_ID": f"bench-reco-{time.time_ns()}",
        "SCORER_HEALTH_PORT": "0",
        "SCORER_FEAST_DATA": str(work / "feast"),
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
    }
    env.pop("REDIS_URL", None)  # every list comes with its event: no store is read
    log = (work / "scorer.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "services.scorer"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _topics(kafka: KafkaSettings, tag: str) -> dict[str, str]:
    return {
        k: _topic(kafka, f"bench.reco.{tag}.{k}.{time.time_ns()}", 6 if k in ("in", "out") else 1)
        for k in ("in", "out", "models", "alerts")
    }


def _backlog(kafka: KafkaSettings, work: Path, n_candidates: int, n: int) -> float:
    """Requests/s of one scorer process on a backlog of n featurized interactions."""
    topics = _topics(kafka, f"n{n_candidates}")
    publish_version(kafka, topics["models"], _recommender(work / "models", n_candidates), signing_key())
    now = datetime.now(UTC).isoformat()
    _fill(kafka, topics["in"], [_event(i, now) for i in range(n)])
    proc = _start(kafka, topics, work)
    try:
        return rate_until(
            lambda: total(end_offsets(kafka, topics["out"])), n, proc, f"the scorer ({work}/scorer.log)"
        )
    finally:
        proc.terminate()
        proc.wait(30)


def _paced(kafka: KafkaSettings, work: Path, rates: tuple[int, ...], seconds: float) -> dict[str, float]:
    """The hop at each paced rate, one scorer process (N = 100) serving all of them; a reader thread
    stamps each recommendation as it becomes readable, while the events are still being produced."""
    topics = _topics(kafka, "paced")
    publish_version(kafka, topics["models"], _recommender(work / "models", 100), signing_key())
    proc = _start(kafka, topics, work)
    seen: dict[str, float] = {}
    stop = threading.Event()
    reader = threading.Thread(target=_read, args=(kafka, topics["out"], seen, stop), daemon=True)
    reader.start()
    producer = Producer(kafka.librdkafka() | {"linger.ms": 0})
    out: dict[str, float] = {}
    try:
        _wait(
            _produce(producer, topics["in"], 0, 200, 100.0), seen, proc
        )  # warm-up: scorer up, reader assigned
        start = 200
        for rate in rates:
            count = int(rate * seconds)
            sent = _produce(producer, topics["in"], start, count, float(rate))
            hops = [(seen[i] - t) * 1000 for i, t in _wait(sent, seen, proc).items()]
            out[f"reco_hop_{rate}_per_s_p50_ms"] = float(np.percentile(hops, 50))
            out[f"reco_hop_{rate}_per_s_p99_ms"] = float(np.percentile(hops, 99))
            start += count
    finally:
        stop.set()
        reader.join(10)
        proc.terminate()
        proc.wait(30)
    return out


def _read(kafka: KafkaSettings, topic: str, seen: dict[str, float], stop: threading.Event) -> None:
    consumer = Consumer(
        kafka.librdkafka()
        | {
            "group.id": f"bench-reco-read-{time.time_ns()}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 5,  # a reader parked on the broker would add its wait to the hop
        }
    )
    consumer.subscribe([topic])
    try:
        while not stop.is_set():
            for m in consumer.consume(1_000, 0.05):
                if m.error() is None:
                    seen[orjson.loads(m.value())["interaction_id"]] = time.time()
    finally:
        consumer.close()


def _produce(producer: Producer, topic: str, first: int, count: int, rate: float) -> dict[str, float]:
    """`count` events at `rate` per second; each one's send time by id."""
    sent: dict[str, float] = {}
    pacer = Pacer(rate=rate, clock=time.perf_counter)
    for k in range(count):
        time.sleep(pacer.delay(k, 0))
        key, value = _event(first + k, datetime.now(UTC).isoformat())
        sent[f"b{first + k}"] = time.time()
        producer.produce(topic, value, key)
        producer.poll(0)
    producer.flush(30)
    return sent


def _wait(sent: dict[str, float], seen: dict[str, float], proc: subprocess.Popen[bytes]) -> dict[str, float]:
    """Until every sent event's recommendation was read (120 s at most)."""
    deadline = time.monotonic() + 120
    while not sent.keys() <= seen.keys():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(sent.keys() & seen.keys())} of {len(sent)} recommendations (scorer.log)"
            )
        time.sleep(0.05)
    return sent


def bench_recommendation_scorer(kafka: KafkaSettings, n: int = 30_000) -> dict[str, float]:
    """Requests/s at N = 100 and 1,000 on a backlog; the hop at 100/s and 1,000/s (N = 100)."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="rtloop-bench-reco-") as tmp:
        work = Path(tmp)
        for candidates in (100, 1_000):
            out[f"reco_scorer_n{candidates}_requests_per_s"] = _backlog(kafka, work, candidates, n)
        out |= _paced(kafka, work, (100, 1_000), seconds=10.0)
    return out
