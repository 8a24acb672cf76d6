"""The HANDBOOK's batch definitions in plain pandas, and the features service as a real process."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from services.features.handlers import FeatureEngine
from tests.kafka_helpers import ROOT, Broker, ServiceProcess
from usecases.fraud import FEATURE_NAMES, FRAUD, inputs

__all__ = ["FeaturesRun", "batch_features", "compare", "fraud_engine", "read_featurized"]

DAY = np.int64(86_400)


def fraud_engine(customers: Any, terminals: Any, lateness_days: int = 1) -> FeatureEngine:
    """The features service's engine on the fraud views, over the given state tables."""
    return FeatureEngine(
        FRAUD.features.views,
        [customers, terminals],
        FRAUD.event_fields,
        FRAUD.feedback_fields,
        lateness_days,
        inputs,
    )


def batch_features(table: pa.Table, delay_days: int = 7) -> pd.DataFrame:
    """The 15 inputs per transaction (index: tx_id as str), computed independently of the service:
    pandas time-based rolling windows per customer (rows in transaction order, the current one
    included) and delayed terminal windows by binary search over each terminal's history."""
    df = table.select(
        ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]
    )
    df = df.to_pandas().sort_values(["tx_datetime", "transaction_id"]).reset_index(drop=True)
    out = pd.DataFrame(index=df.index)
    out["TX_AMOUNT"] = df["tx_amount"]
    out["TX_DURING_WEEKEND"] = (df["tx_datetime"].dt.weekday >= 5).astype(float)
    out["TX_DURING_NIGHT"] = (df["tx_datetime"].dt.hour <= 6).astype(float)
    for n in (1, 7, 30):
        rolled = (
            df.set_index("tx_datetime")
            .groupby("customer_id", sort=True)["tx_amount"]
            .rolling(f"{n}D", closed="right")
        )
        counts = rolled.count().reset_index(level=0, drop=True)
        means = rolled.mean().reset_index(level=0, drop=True)
        order = df.sort_values("customer_id", kind="stable").index  # groups in key order, rows in df order
        out.loc[order, f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] = counts.to_numpy()
        out.loc[order, f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] = means.to_numpy()
    seconds = df["tx_datetime"].astype("int64").to_numpy() // 1_000_000
    if df["tx_datetime"].dtype.unit == "ns":  # type: ignore[attr-defined]
        seconds //= 1000
    for name in [f"TERMINAL_ID_{k}_{n}DAY_WINDOW" for n in (1, 7, 30) for k in ("NB_TX", "RISK")]:
        out[name] = 0.0
    for _, idx in df.groupby("terminal_id").indices.items():
        times = seconds[idx]
        order = np.argsort(times, kind="stable")
        sorted_t = times[order]
        frauds = np.concatenate([[0], np.cumsum(df["tx_fraud"].to_numpy()[idx][order])])
        hi = np.searchsorted(sorted_t, times - delay_days * DAY, side="right")
        for n in (1, 7, 30):
            lo = np.searchsorted(sorted_t, times - (n + delay_days) * DAY, side="right")
            count = hi - lo
            risk = np.divide(frauds[hi] - frauds[lo], count, out=np.zeros(len(idx)), where=count > 0)
            out.loc[idx, f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW"] = count.astype(float)
            out.loc[idx, f"TERMINAL_ID_RISK_{n}DAY_WINDOW"] = risk
    out.index = df["transaction_id"].astype(str)
    return out[FEATURE_NAMES]


def compare(expected: pd.DataFrame, got: dict[str, dict[str, float | None]], rtol: float = 1e-9) -> list[str]:
    """Every mismatch as `tx_id feature: got vs expected` (relative tolerance 1e-9 by default)."""
    problems = []
    for tx_id, row in expected.iterrows():
        vector = got.get(str(tx_id))
        if vector is None:
            problems.append(f"{tx_id}: no features read back")
            continue
        for name, want in row.items():
            have = vector.get(str(name))
            if have is None or not np.isclose(have, want, rtol=rtol, atol=1e-9):
                problems.append(f"{tx_id} {name}: {have} vs {want}")
    return problems


def read_featurized(
    broker: Broker,
    topic: str,
    expected: int,
    timeout_s: float,
    run: FeaturesRun,
    carried: dict[str, list[dict[str, float | None]]] | None = None,
) -> dict[str, list[dict[str, float | None]]]:
    """tx_id → every online_features vector emitted for it, until `expected` distinct tx_ids (and
    into `carried`, when given, every feature vector the events carried)."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        broker.kafka.librdkafka() | {"group.id": f"check-{time.time()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    out: dict[str, list[dict[str, float | None]]] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expected:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(out)} of {expected} featurized events after {timeout_s}s; {run.progress()}"
                )
            run.alive()
            for m in consumer.consume(5000, 0.5):
                if m.error() is None:
                    event = orjson.loads(m.value() or b"{}")
                    out.setdefault(event["tx_id"], []).append(event["online_features"])
                    if carried is not None:
                        carried.setdefault(event["tx_id"], []).append(event.get("features") or {})
    finally:
        consumer.close()
    return out


@dataclass
class FeaturesRun(ServiceProcess):
    """One features deployment against the test broker: its topics, state, lake and process."""

    broker: Broker
    clean: str
    labels: str
    features: str
    dlq: str
    root: Path
    redis_url: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    instance: int = 0  # processes of one deployment: own log, transactional id and Feast registry
    name = "features"

    def __post_init__(self) -> None:
        self.log = self.root / ("features.log" if not self.instance else f"features-{self.instance}.log")

    @property
    def group(self) -> str:
        return f"features-{self.root.name}"

    def progress(self) -> str:
        """Where the deployment stands: consumed vs available (a stall or a loss tells apart here)."""
        from services.tools.ops.offsets import committed_offsets, end_offsets

        done = committed_offsets(self.broker.kafka, self.group, self.clean)
        ends = end_offsets(self.broker.kafka, self.clean)
        out = self.emitted()
        return (
            f"committed {sum(done.values())} of {sum(ends.values())} clean ({done} of {ends}), {out} emitted"
        )

    def emitted(self) -> int:
        """The features topic's end offsets summed (records and transaction markers)."""
        from services.tools.ops.offsets import end_offsets

        return sum(end_offsets(self.broker.kafka, self.features).values())

    def wait_emitted(self, count: float, timeout_s: float = 300) -> int:
        """Until the features topic's offsets reach `count`; the process must stay alive and move."""
        deadline = time.monotonic() + timeout_s
        while (emitted := self.emitted()) < count:
            self.alive()
            assert time.monotonic() < deadline, f"features made no progress: {self.progress()}"
            time.sleep(0.2)
        return emitted

    def start(self, **extra: str) -> None:
        env = self.broker.process_env(
            FEATURES_CLEAN_TOPIC=self.clean,
            FEATURES_LABELS_TOPIC=self.labels,
            FEATURES_FEATURES_TOPIC=self.features,
            FEATURES_DLQ_TOPIC=self.dlq,
            FEATURES_GROUP_ID=self.group,
            FEATURES_LAKE_ROOT=str(self.root / "lake"),
            FEATURES_FEAST_DATA=str(self.root / ("feast" if not self.instance else f"feast-{self.instance}")),
            FEATURES_TRANSACTIONAL_ID=f"{self.group}-{self.instance}",
            FEATURES_HEALTH_PORT="0",
            FEATURES_VERIFY_ONLINE="true",
            **extra,
        )
        env.pop("REDIS_URL", None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.features"],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
