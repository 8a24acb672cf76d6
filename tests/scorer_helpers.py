"""Helpers of the scorer tests: a small registered model, seeded online rows, featurized events, a
scorer process and the predictions it published."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Producer

from services.common.contracts import ModelVersionV1
from services.common.feast_online_writers import open_writer
from services.common.feature_services import online_store_config
from services.common.kafka.delivery import deliver
from services.common.kafka.envelope import Output
from services.common.registry import Registry
from services.training.adapters.kafka_io import publish_version
from tests.kafka_helpers import MODEL_KEY, ROOT, Broker, ServiceProcess, consume
from usecases.fraud import FRAUD_V1

__all__ = ["ScorerRun", "featurized", "predictions_of", "register_model", "seed_online"]

NAMES = FRAUD_V1.feature_names


def register_model(
    root: Path,
    name: str,
    version: str,
    kind: str = "logreg",
    seed: int = 0,
    inverted: bool = False,
    threshold: float = 0.5,
) -> ModelVersionV1:
    """Fit `kind` on synthetic rows (fraud ~ large amounts; `inverted`: ~ small ones, a deliberately
    bad model) and register it."""
    from services.training.candidates import CANDIDATES, fit
    from services.training.export import to_onnx_bytes

    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 30.0, size=(4000, len(NAMES))).astype(np.float32)
    y = (x[:, 0] + rng.normal(0, 20, len(x)) > 150).astype(int)
    if inverted:
        y = (x[:, 0] + rng.normal(0, 20, len(x)) < 40).astype(int)
    onnx_bytes = to_onnx_bytes(fit(CANDIDATES[kind], x, y, seed), len(NAMES))
    card = {"name": name, "version": version, "kind": kind, "features": NAMES, "threshold": threshold}
    return Registry(root).write(card, onnx_bytes).model_copy(update={"stage": "production"})


def seed_online(redis_url: str | None, data: Path, project: str, customers: int, terminals: int) -> None:
    """One row per customer and terminal: customer c has TX_AMOUNT = c % 300, everything else 1."""
    customer, terminal = FRAUD_V1.views
    now = datetime.now(UTC)
    ops: list[Any] = []
    for c in range(customers):
        ops.append(
            (customer, f"c{c}", {f: 1.0 for f in customer.features} | {"TX_AMOUNT": float(c % 300)}, now)
        )
    ops += [(terminal, f"t{t}", dict.fromkeys(terminal.features, 1.0), now) for t in range(terminals)]
    data.mkdir(parents=True, exist_ok=True)
    writer = open_writer(online_store_config(redis_url, data), project)
    for start in range(0, len(ops), 5000):
        writer.write([ops[start : start + 5000]])


def featurized(n: int, customers: int, terminals: int, start_id: int = 0) -> list[tuple[bytes, bytes]]:
    """n FeaturizedTransaction v1 (key, value) pairs with distinct tx_ids."""
    base = datetime(2018, 8, 8, tzinfo=UTC)
    out = []
    for i in range(start_id, start_id + n):
        c = i % customers
        doc = {
            "tx_id": f"tx{i}",
            "event_time": (base + timedelta(seconds=i)).isoformat(),
            "customer_id": f"c{c}",
            "terminal_id": f"t{i % terminals}",
            "amount": float(c % 300),
            "currency": "EUR",
            "ingest_time": datetime.now(UTC).isoformat(),
            "source_partition": 0,
            "source_offset": i,
            "features_written_at": datetime.now(UTC).isoformat(),
            "feature_service": "fraud_v1",
        }
        out.append((f"c{c}".encode(), orjson.dumps(doc)))
    return out


def produce_all(broker: Broker, topic: str, pairs: list[tuple[bytes, bytes]]) -> None:
    """Produce and wait for every message."""
    producer = Producer(broker.kafka.librdkafka() | {"linger.ms": 5, "acks": "all"})
    outputs = [Output(topic, value, key) for key, value in pairs]
    assert deliver(producer, outputs, timeout_s=60, service="test") == []


def predictions_of(broker: Broker, topic: str, expected: int, timeout_s: float = 120) -> list[dict[str, Any]]:
    """Decoded predictions (read_committed) once `expected` arrived or the timeout passed."""
    return [orjson.loads(m.value()) for m in consume(broker.kafka, topic, expected, timeout_s)]


def counts(preds: list[dict[str, Any]]) -> Counter[str]:
    """Primary predictions per tx_id."""
    return Counter(p["tx_id"] for p in preds if not p["shadow"])


@dataclass
class ScorerRun(ServiceProcess):
    """One scorer process against the test broker."""

    broker: Broker
    features: str
    predictions: str
    models: str
    alerts: str
    dlq: str
    root: Path
    project: str
    redis_url: str | None = None
    group: str = "scorer"
    instance: str = "0"
    proc: subprocess.Popen[bytes] | None = None
    name = "scorer"

    def __post_init__(self) -> None:
        self.log = self.root / f"scorer-{self.instance}.log"

    def start(self, **extra: str) -> None:
        env = self.broker.process_env(
            SCORER_FEATURES_TOPIC=self.features,
            SCORER_PREDICTIONS_TOPIC=self.predictions,
            SCORER_MODELS_TOPIC=self.models,
            SCORER_ALERTS_TOPIC=self.alerts,
            SCORER_DLQ_TOPIC=self.dlq,
            SCORER_GROUP_ID=f"{self.group}-{self.root.name}",
            SCORER_INSTANCE=self.instance,
            SCORER_FEAST_PROJECT=self.project,
            SCORER_FEAST_DATA=str(self.root / "feast"),
            SCORER_HEALTH_PORT="0",
            SCORER_PROVIDERS='["CUDAExecutionProvider", "CPUExecutionProvider"]',
            **extra,
        )
        env.pop("REDIS_URL", None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.scorer"],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def publish(self, version: ModelVersionV1) -> None:
        """Put a version on this run's models topic."""
        publish_version(self.broker.kafka, self.models, version, MODEL_KEY)
