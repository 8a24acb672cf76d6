"""features benchmarks: the window engine alone, events/s, freshness at 2k/s, batched online reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow.compute as pc
from confluent_kafka import Consumer
from confluent_kafka.admin import NewTopic

from services.common.config import KafkaSettings
from services.common.feast.repo import apply, online_store_config
from services.common.feast_online import open_reader
from services.common.feast_online_writers import open_writer
from services.common.kafka.clients import make_admin
from services.features.config import FeaturesSettings
from services.tools.config import PROJECT_ROOT
from services.tools.ops.offsets import end_offsets
from services.tools.runtime.broker import free_port
from services.tools.runtime.redis_server import start_redis
from usecases.fraud import FEATURE_NAMES, FRAUD, FRAUD_V1
from usecases.fraud import inputs as fraud_inputs
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay
from usecases.fraud.simulator import SimulationConfig, simulate

CUSTOMER_SPEC, TERMINAL_SPEC = FRAUD_V1.views

__all__ = ["bench_features", "bench_windows", "features_env"]

_FRESH_IDS = 1_000_000_000  # each freshness run's tx_ids start at a multiple of this (the backlog's at 0)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)] if ordered else float("nan")


def _online_reads(settings: FeaturesSettings, rounds: int = 200) -> dict[str, float]:
    """p50/p99 of one 500-entity lookup of fraud_v1 (both views): fast path (dicts, arrays) vs Feast's SDK."""
    store = apply(settings)
    row = dict.fromkeys(FEATURE_NAMES, 1.0)
    now = datetime.now(UTC)
    ids = [str(i) for i in range(500)]
    open_writer(online_store_config(settings), settings.feast_project).write(
        [[(CUSTOMER_SPEC, i, row, now) for i in ids] + [(TERMINAL_SPEC, i, row, now) for i in ids]]
    )
    reader = open_reader(online_store_config(settings), settings.feast_project)
    service = store.get_feature_service(settings.feature_service)
    rows = [{"customer_id": i, "terminal_id": i} for i in ids]
    fast, array, sdk = [], [], []
    for _ in range(rounds):  # interleaved: all see the same machine noise
        t = time.perf_counter()
        reader.read_views([(CUSTOMER_SPEC, ids), (TERMINAL_SPEC, ids)])
        fast.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()  # the scorer's path: the same read decoded into arrays
        reader.read_matrices([(CUSTOMER_SPEC, ids), (TERMINAL_SPEC, ids)])
        array.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        store.get_online_features(features=service, entity_rows=rows).to_dict()
        sdk.append((time.perf_counter() - t) * 1000)
    kind = online_store_config(settings)["type"]
    return {
        f"features_read500_{kind}_fast_p50_ms": _pct(fast, 0.5),
        f"features_read500_{kind}_fast_p99_ms": _pct(fast, 0.99),
        f"features_read500_{kind}_array_p50_ms": _pct(array, 0.5),
        f"features_read500_{kind}_array_p99_ms": _pct(array, 0.99),
        f"features_read500_{kind}_sdk_p50_ms": _pct(sdk, 0.5),
        f"features_read500_{kind}_sdk_p99_ms": _pct(sdk, 0.99),
    }


def _featurized_total(kafka: KafkaSettings, topic: str) -> int:
    return sum(end_offsets(kafka, topic).values())


def bench_windows(days: int = 20, batch: int = 500) -> dict[str, float]:
    """The window engine alone, in process, on the replay's order of a simulated slice (labels
    applied where they fall between batches): the ceiling the engine sets on a features process."""
    from services.features.handlers import FeatureEngine
    from usecases.fraud import CONTRACTS

    stream = build_stream(simulate(SimulationConfig(n_customers=2000, n_terminals=4000, n_days=days)))
    n = stream.n
    runs: list[tuple[bool, list[object]]] = []
    for is_label, row, when, ids in stream.walk():
        item: object = (
            CONTRACTS.feedback.model_construct(**ids, tx_event_time=when, is_fraud=bool(stream.is_fraud[row]))
            if is_label
            else (
                CONTRACTS.clean.model_construct(**ids, event_time=when, amount=float(stream.amount[row])),
                0,
                0,
            )
        )
        if not runs or runs[-1][0] != is_label or len(runs[-1][1]) >= batch:
            runs.append((is_label, []))
        runs[-1][1].append(item)
    engine = FeatureEngine(
        FRAUD.features.views, [{}, {}], FRAUD.event_fields, FRAUD.feedback_fields, 1, fraud_inputs
    )
    started = time.perf_counter()
    for is_label, items in runs:
        if is_label:
            engine.labels(items)
        else:
            engine.transactions(items)  # type: ignore[arg-type]
    return {"features_windows_tx_per_s": n / (time.perf_counter() - started)}


_RESTORED = re.compile(r"restored (\d+) partitions \((\d+) keys\) in ([\d.]+) s")


def _consuming_since(log_path: Path) -> float:
    """When the features runner started consuming, from its log line (local time, as logged)."""
    for line in log_path.read_text(errors="replace").splitlines():
        if "features: consuming" in line:
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise RuntimeError(f"features never started consuming: see {log_path}")


def _start(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.features"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _restored(proc: subprocess.Popen[bytes], log_path: Path) -> dict[str, float]:
    """Seconds the restarted process took to restore its partitions' state, as it logs it."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        found = _RESTORED.search(log_path.read_text(errors="replace"))
        if found:
            partitions, keys, seconds = found.groups()
            return {
                "features_restore_s": float(seconds),
                "features_restore_keys": float(keys),
                "features_restore_partitions": float(partitions),
            }
        time.sleep(0.2)
    raise RuntimeError(f"features did not restore its state: see {log_path}")


def bench_features(kafka: KafkaSettings, env: dict[str, str], days: int = 7) -> dict[str, float]:
    """One features process on Redis: backlog throughput (a week of transactions and labels), the
    restore of that week's state after a SIGKILL, then freshness at 200 and 2k events/s."""
    admin = make_admin(kafka)
    prefix = "bench.features"
    clean, labels, feats, dlq = (f"{prefix}.{t}" for t in ("clean", "labels", "features", "dlq"))
    topics = (clean, labels, labels + ".unread", feats, dlq)
    for fut in admin.create_topics([NewTopic(t, 6, 1) for t in topics]).values():
        fut.result(30)
    table = simulate(SimulationConfig(n_days=days))
    replay(kafka, build_stream(table), ReplayOptions(clean, labels, as_clean=True))
    n = table.num_rows
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="rtloop-bench-features-") as tmp:
        root, port = Path(tmp), free_port()
        redis_proc = start_redis(port, root / "redis")
        url = f"redis://127.0.0.1:{port}/0"
        log_path = PROJECT_ROOT / "bench-results" / "features.log"
        log_path.parent.mkdir(exist_ok=True)
        proc_env = os.environ | env | features_env((clean, labels, feats, dlq), root, url, f"{prefix}.group")
        proc = _start(proc_env, log_path)
        try:
            deadline = time.monotonic() + 1200
            done = 0
            while done < n and time.monotonic() < deadline and proc.poll() is None:
                done = _featurized_total(kafka, feats)
                time.sleep(0.2)
            finished = time.time()
            if done < n:
                raise RuntimeError(f"features emitted {done} of {n} events")
            results["features_backlog_transactions"] = float(n)
            # from its first poll of the inputs: the later stage holds the backlog until the labels are
            # read (the replay's alignment), then releases it at once, so the output's pace is not it
            results["features_events_per_s"] = n / max(finished - _consuming_since(log_path), 1e-9)
            results |= _freshness(kafka, clean, labels, feats, rate=200, seconds=15, base=_FRESH_IDS)
            results |= _freshness(kafka, clean, labels, feats, rate=2000, seconds=15, base=2 * _FRESH_IDS)
            proc.kill()  # a crash: the next process restores the week's state from the changelogs
            proc.wait(60)
            proc = _start(proc_env, log_path.with_name("features-restart.log"))
            results |= _restored(proc, log_path.with_name("features-restart.log"))
            proc.terminate()  # the reads below get the machine to themselves
            proc.wait(60)
            settings = FeaturesSettings(
                feast_data=root / "read-feast", lake_root=root / "read-lake", redis_url=url
            )
            results |= _online_reads(settings)
            sqlite = FeaturesSettings(feast_data=root / "read-sqlite", lake_root=root / "read-lake")
            results |= _online_reads(sqlite)
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(60)
            redis_proc.terminate()
            redis_proc.wait(10)
    return results


def features_env(topics: tuple[str, str, str, str], root: Path, redis_url: str, group: str) -> dict[str, str]:
    """A features process's settings: its topics (clean, labels or "" for none, features, dead
    letters), its lake and Feast folders under `root`, its Redis, its group; no health port."""
    clean, labels, feats, dlq = topics
    return {
        "REDIS_URL": redis_url,
        "FEATURES_CLEAN_TOPIC": clean,
        "FEATURES_LABELS_TOPIC": labels,
        "FEATURES_FEATURES_TOPIC": feats,
        "FEATURES_DLQ_TOPIC": dlq,
        "FEATURES_LAKE_ROOT": str(root / "lake"),
        "FEATURES_FEAST_DATA": str(root / "feast"),
        "FEATURES_HEALTH_PORT": "0",
        "FEATURES_GROUP_ID": group,
    }


def _freshness(
    kafka: KafkaSettings, clean: str, labels: str, feats: str, rate: int, seconds: int, base: int
) -> dict[str, float]:
    """Replay about rate × seconds fresh transactions as clean events at `rate` per second, stamped
    with ingest_time at produce time (their labels go to a topic the service does not read);
    freshness = features_written_at − ingest_time of each event."""
    table = simulate(
        SimulationConfig(n_days=seconds * rate // 9_000 + 1, start_date=datetime(2019, 1, 1).date())
    )
    ids = table.column("transaction_id")
    table = table.set_column(
        table.schema.get_field_index("transaction_id"), "transaction_id", pc.add(ids, base)
    )
    replay(kafka, build_stream(table), ReplayOptions(clean, labels + ".unread", rate=rate, as_clean=True))
    consumer = Consumer(
        kafka.librdkafka() | {"group.id": f"bench-fresh-{time.time()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([feats])
    lags: list[float] = []
    deadline = time.time() + 180
    want = table.num_rows
    while len(lags) < want and time.time() < deadline:
        for m in consumer.consume(5000, 0.5):
            if m.error() is not None:
                continue
            e = orjson.loads(m.value() or b"{}")
            if not base <= int(e["tx_id"]) < base + _FRESH_IDS:
                continue
            written = datetime.fromisoformat(e["features_written_at"])
            ingested = datetime.fromisoformat(e["ingest_time"])
            lags.append((written - ingested).total_seconds() * 1000)
    consumer.close()
    return {
        f"features_freshness_{rate}_per_s_events": float(len(lags)),
        f"features_freshness_{rate}_per_s_p50_ms": _pct(lags, 0.5),
        f"features_freshness_{rate}_per_s_p99_ms": _pct(lags, 0.99),
    }
