"""A third use case, declared only under tests/usecases/sensor, through ingest → features → scorer →
monitor with no code of its own: a prediction for every valid reading, a dead letter with its reason
for every bad one, and a drift alert naming the temperature once the readings shift."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from confluent_kafka import Producer

from services.common.drift import Reference
from services.common.kafka.envelope import header
from services.common.kafka.scan import scan_topic
from services.common.registry import Registry
from services.common.usecase import load_usecase
from services.training.adapters.kafka_io import publish_version
from services.training.candidates import CANDIDATES, fit
from services.training.export import to_onnx_bytes
from tests.features_helpers import FeaturesRun
from tests.ingest_helpers import IngestRun
from tests.kafka_helpers import MODEL_KEY, ROOT, Broker
from tests.monitor_helpers import MonitorRun, alerts_on
from tests.scorer_helpers import ScorerRun, predictions_of

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

DECLARATION = str(ROOT / "tests" / "usecases" / "sensor" / "usecase.yaml")
SENSOR = load_usecase(DECLARATION)
NAMES = SENSOR.feature_service.feature_names
DEVICES, EVERY_S = 20, 120


def readings(start: datetime, hours: float, seed: int, shift: float = 0.0, prefix: str = "r") -> pd.DataFrame:
    """Each device reads every two minutes; a reading is faulty when the device runs hot."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(int(hours * 3600 / EVERY_S)):
        for d in range(DEVICES):
            temperature = 40 + 3 * (d % 4) + rng.normal(0, 4) + shift
            at = start + timedelta(seconds=k * EVERY_S + d)
            rows.append((f"{prefix}{k}-{d}", at, f"dev{d}", round(temperature, 2)))
    return pd.DataFrame(rows, columns=["reading_id", "read_at", "device_id", "temperature"])


def inputs(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    """The declared inputs by their definition: the reading's temperature, then the device's readings
    in the hour and the day up to it (it included), counted and averaged."""
    out = pd.DataFrame(index=frame.index)
    out["TEMPERATURE"] = frame["temperature"]
    for hours in (1, 24):
        rolled = frame.set_index("read_at").groupby("device_id")["temperature"].rolling(f"{hours}h")
        order = frame.sort_values(["device_id", "read_at"], kind="stable").index
        out.loc[order, f"READINGS_{hours}H"] = rolled.count().to_numpy()
        out.loc[order, f"MEAN_TEMPERATURE_{hours}H"] = rolled.mean().to_numpy()
    return out[NAMES].to_numpy(np.float32)


def train(registry: Path, start: datetime) -> Any:
    """A logistic regression on a history like the live readings, registered with its drift reference
    and promoted: the threshold model the declaration decides with (0.5)."""
    history = readings(start, 2.5, seed=1).sort_values("read_at", kind="stable").reset_index(drop=True)
    x = inputs(history)
    y = (history["temperature"].to_numpy() > 50).astype(int)
    model = fit(CANDIDATES["logreg"], x, y, 0)
    scores = model.predict_proba(x)[:, 1]
    reference = {
        "inputs": Reference.from_matrix(x, NAMES, "sensor history").to_dict(),
        "score": Reference.from_matrix(scores[:, None], ["score"], "sensor history").to_dict(),
    }
    card = {"name": "sensor", "version": "1", "kind": "logreg", "features": NAMES, "threshold": 0.5}
    store = Registry(registry)
    store.write(card, to_onnx_bytes(model, len(NAMES)), reference)
    return store.set_stage("sensor", "1", "production")


def produce(broker: Broker, topic: str, frame: pd.DataFrame) -> None:
    producer = Producer(broker.kafka.librdkafka() | {"linger.ms": 20})
    for row in frame.itertuples():
        doc = {
            "reading_id": row.reading_id,
            "read_at": row.read_at.isoformat(),
            "device_id": row.device_id,
            "temperature": row.temperature,
        }
        producer.produce(topic, orjson.dumps(doc), row.device_id.encode())
        producer.poll(0)
    assert producer.flush(30) == 0


BAD = [
    (b'{"reading_id": "x1"', "malformed_json"),
    (orjson.dumps({"reading_id": "x2", "device_id": "dev1", "temperature": 40.0}), "missing_field"),
    (
        orjson.dumps(
            {"reading_id": "x3", "read_at": "2026-01-01T00:00:00Z", "device_id": "dev1", "temperature": "hot"}
        ),
        "wrong_type",
    ),
    (b"", "empty_value"),
]


def test_a_use_case_declared_only_in_a_file_runs_the_whole_loop(
    broker: Broker, redis_url: str, tmp_path: Path
) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=5)
    version = train(tmp_path / "models", start - timedelta(hours=7))
    usecase = {"RTLOOP_USECASE": DECLARATION}
    ingest = IngestRun.fresh(broker, tmp_path)
    inspections, alerts, models = (broker.topic(n, 1) for n in ("inspections", "alerts", "models"))
    features = FeaturesRun(
        broker, ingest.clean, inspections, broker.topic("features", 6), ingest.dlq, tmp_path, redis_url
    )
    scorer = ScorerRun(
        broker,
        features.features,
        broker.topic("predictions", 6),
        models,
        alerts,
        ingest.dlq,
        tmp_path,
        "rtloop",
        redis_url,
    )
    monitor = MonitorRun(
        broker,
        usecase
        | {
            "MONITOR_PREDICTIONS_TOPIC": scorer.predictions,
            "MONITOR_LABELS_TOPIC": inspections,
            "MONITOR_ALERTS_TOPIC": alerts,
            "MONITOR_MODELS_TOPIC": models,
            "MONITOR_DLQ_TOPIC": ingest.dlq,
            "MONITOR_STATE_TOPIC": broker.topic("monitor-state", 1),
            "MONITOR_REGISTRY_ROOT": str(tmp_path / "models"),
            "MONITOR_REPORTS_DIR": str(tmp_path / "reports"),
            "MONITOR_WINDOW_SIZE": "600",
            "MONITOR_RAISE_AFTER": "1",
            "MONITOR_HEALTH_PORT": "0",
            "MONITOR_GROUP_ID": "monitor-sensor",
        },
        tmp_path / "monitor.log",
    )
    publish_version(broker.kafka, models, version, MODEL_KEY)
    live = readings(start, 2.5, seed=2)
    shifted = readings(start + timedelta(hours=2.5), 2, seed=3, shift=12.0, prefix="s")
    producer = Producer(broker.kafka.librdkafka())
    for value, _reason in BAD:
        producer.produce(ingest.raw, value, b"junk")
    assert producer.flush(30) == 0
    produce(broker, ingest.raw, live)
    procs = (ingest, features, scorer, monitor)
    try:
        ingest.start(**usecase)
        features.start(**usecase)
        scorer.start(**usecase)
        monitor.start()
        first = predictions_of(broker, scorer.predictions, len(live), timeout_s=420)
        produce(broker, ingest.raw, shifted)
        preds = predictions_of(broker, scorer.predictions, len(live) + len(shifted), timeout_s=300)
        deadline = time.monotonic() + 120
        while not [a for a in alerts_on(broker, alerts) if a["kind"] == "data_drift"]:
            for proc in procs:
                proc.alive()
            assert time.monotonic() < deadline, f"no drift alert: {alerts_on(broker, alerts)}"
            time.sleep(2)
    finally:
        for proc in procs:
            proc.stop()
    ids = [p["reading_id"] for p in preds if not p["shadow"]]
    assert sorted(ids) == sorted([*live["reading_id"], *shifted["reading_id"]]), "one per valid reading"
    assert {p["model_name"] for p in preds} == {"sensor"} and set(preds[0]["features"]) == set(NAMES)
    assert all(p["threshold"] == 0.5 and p["decision"] == (p["score"] >= 0.5) for p in preds)
    assert {p["reading_id"] for p in first} <= set(live["reading_id"])
    letters = list(scan_topic(broker.kafka, ingest.dlq, idle_timeout_s=2))
    reasons = sorted((header(m.headers(), "rtloop.error.reason") or b"").decode() for m in letters)
    assert reasons == sorted(r for _, r in BAD), "each bad reading dead-lettered with its reason"
    drift = [a for a in alerts_on(broker, alerts) if a["kind"] == "data_drift" and a["state"] == "raised"]
    assert drift, "the shifted readings raise a drift alert"
    drifted = {f["name"] for a in drift for f in a["drifted_features"]}
    assert "TEMPERATURE" in drifted, drift
