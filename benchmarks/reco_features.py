"""features on the recommendations declaration: freshness, an interaction produced (clean, stamped with
its ingest time) → its user and item rows online (the features event is emitted once both are), p50 /
p99 at a paced 200 and 2,000 interactions/s, one process on Redis."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic

from benchmarks.features import _start, features_env
from services.common.config import KafkaSettings
from services.common.kafka.clients import make_admin
from services.tools.config import PROJECT_ROOT
from services.tools.ops.pacing import Pacer
from services.tools.runtime.broker import free_port
from services.tools.runtime.redis_server import start_redis

__all__ = ["bench_recommendation_features"]

USERS, ITEMS = 943, 1_682


def _produce(producer: Producer, topic: str, first: int, count: int, rate: float) -> None:
    """`count` clean interactions at `rate` per second, each stamped with its ingest time as it is sent."""
    rng = np.random.default_rng(first)
    items = rng.zipf(1.3, count) % ITEMS
    pacer = Pacer(rate=rate, clock=time.perf_counter)
    for k in range(count):
        time.sleep(pacer.delay(k, 0))
        i, stamp = first + k, datetime.now(UTC).isoformat()
        user = str(i % USERS)
        doc = {
            "interaction_id": f"f{i}",
            "event_time": stamp,
            "user_id": user,
            "item_id": str(items[k]),
            "action": "view",
            "ingest_time": stamp,
            "source_partition": 0,
            "source_offset": i,
        }
        producer.produce(topic, orjson.dumps(doc), user.encode())
        producer.poll(0)
    producer.flush(30)


def _lags(kafka: KafkaSettings, topic: str, ids: range, timeout_s: float = 180) -> list[float]:
    """features_written_at − ingest_time, in ms, of each interaction in `ids` (read_committed)."""
    consumer = Consumer(
        kafka.librdkafka()
        | {"group.id": f"bench-reco-fresh-{time.time_ns()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    lags: list[float] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(lags) < len(ids) and time.monotonic() < deadline:
            for m in consumer.consume(5_000, 0.5):
                if m.error() is None:
                    e = orjson.loads(m.value() or b"{}")
                    if int(e["interaction_id"][1:]) in ids:
                        written = datetime.fromisoformat(e["features_written_at"])
                        lags.append(
                            (written - datetime.fromisoformat(e["ingest_time"])).total_seconds() * 1000
                        )
    finally:
        consumer.close()
    if len(lags) < len(ids):
        raise RuntimeError(
            f"{len(lags)} of {len(ids)} interactions featurized (bench-results/reco-features.log)"
        )
    return lags


def bench_recommendation_features(kafka: KafkaSettings, seconds: int = 15) -> dict[str, float]:
    """Freshness p50 / p99 at 200 and 2,000 interactions/s after a 2,000-interaction warm-up."""
    prefix = f"bench.reco.features.{time.time_ns()}"
    clean, feats, dlq = (f"{prefix}.{t}" for t in ("clean", "features", "dlq"))
    admin = make_admin(kafka)  # must outlive the futures
    for fut in admin.create_topics([NewTopic(t, 6, 1) for t in (clean, feats, dlq)]).values():
        fut.result(30)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="rtloop-bench-reco-features-") as tmp:
        root, port = Path(tmp), free_port()
        redis_proc = start_redis(port, root / "redis")
        log_path = PROJECT_ROOT / "bench-results" / "reco-features.log"
        log_path.parent.mkdir(exist_ok=True)
        url, group = f"redis://127.0.0.1:{port}/0", f"{prefix}.group"
        env = (
            os.environ
            | {"RTLOOP_USECASE": "recommendations", "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap}
            | features_env((clean, "", feats, dlq), root, url, group)
        )
        proc = _start(env, log_path)
        producer = Producer(kafka.librdkafka() | {"linger.ms": 0})
        try:
            _produce(producer, clean, 0, 2_000, 500.0)  # warm-up: the stages assigned, Feast applied
            _lags(kafka, feats, range(0, 2_000))
            first = 2_000
            for rate in (200, 2_000):
                count = rate * seconds
                _produce(producer, clean, first, count, float(rate))
                lags = _lags(kafka, feats, range(first, first + count))
                out[f"reco_features_freshness_{rate}_per_s_p50_ms"] = float(np.percentile(lags, 50))
                out[f"reco_features_freshness_{rate}_per_s_p99_ms"] = float(np.percentile(lags, 99))
                first += count
        finally:
            proc.terminate()
            proc.wait(60)
            redis_proc.terminate()
            redis_proc.wait(10)
    return out
