"""ingest benchmarks, run as deployed (a `python -m services.ingest` process with its JVM)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic

from services.common.config import KafkaSettings
from services.common.kafka.clients import make_admin
from services.ingest.config import IngestSettings
from services.tools.config import PROJECT_ROOT
from services.tools.ops.lake import rows_and_version
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay
from usecases.fraud.simulator import SimulationConfig, simulate

__all__ = ["bench_ingest", "interval_seconds"]


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


_UNITS = {"second": 1, "minute": 60, "hour": 3600}


def interval_seconds(interval: str) -> int:
    """Seconds of a Spark interval string such as "5 minutes" or "30 seconds"."""
    number, unit = interval.split()
    return int(float(number) * _UNITS[unit.rstrip("s")])


def _probe(tx_id: str, customer_id: str) -> bytes:
    """A valid raw transaction for timing the clean path."""
    return orjson.dumps(
        {
            "tx_id": tx_id,
            "event_time": "2018-04-01T00:00:00Z",
            "customer_id": customer_id,
            "terminal_id": "1",
            "amount": 1.0,
        }
    )


def _latency(
    kafka: KafkaSettings, raw: str, clean: str, rate: int, seconds: int, warmup_s: int = 0
) -> dict[str, float]:
    """Produce at `rate`/s for `warmup_s` (not counted), then for `seconds`; percentiles of clean
    CreateTime − raw CreateTime in ms."""
    producer = Producer(kafka.librdkafka() | {"linger.ms": 0})
    n, warm = rate * seconds, rate * warmup_s
    sent: dict[str, int] = {}
    start = time.time()
    for i in range(warm + n):
        wait = start + i / rate - time.time()
        if wait > 0:
            time.sleep(wait)
        tx_id = f"lat-{i}" if i >= warm else f"warm-{i}"
        sent[tx_id] = int(time.time() * 1000)
        producer.produce(raw, _probe(tx_id, str(i % 500)), str(i % 500).encode(), timestamp=sent[tx_id])
        producer.poll(0)
    producer.flush(30)
    consumer = Consumer(
        kafka.librdkafka() | {"group.id": f"bench-lat-{time.time()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([clean])
    got: dict[str, int] = {}
    deadline = time.time() + 120 + seconds // 2
    while len(got) < n and time.time() < deadline:
        for m in consumer.consume(5000, 0.5):
            if m.error() is None:
                tx_id = orjson.loads(m.value() or b"{}").get("tx_id", "")
                if tx_id.startswith("lat-") and tx_id in sent:
                    got.setdefault(tx_id, m.timestamp()[1] - sent[tx_id])
    consumer.close()
    lat = sorted(got.values())
    if len(lat) < n:
        raise RuntimeError(f"only {len(lat)} of {n} latency probes reached {clean}")
    return {
        f"p{name}": float(lat[int(len(lat) * q)]) for name, q in (("50", 0.5), ("99", 0.99), ("999", 0.999))
    } | {"max": float(lat[-1])}


@contextlib.contextmanager
def _ingest(env: dict[str, str], log: IO[bytes], peak: list[float]) -> Iterator[subprocess.Popen[bytes]]:
    """A `python -m services.ingest` process; its peak RSS (driver + JVM) goes to `peak`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.ingest"],
        cwd=PROJECT_ROOT,
        env=os.environ | env | {"INGEST_HEALTH_PORT": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peak[0] = max(peak[0], _rss_mb(proc.pid))

    threading.Thread(target=sample, daemon=True).start()
    try:
        yield proc
    finally:
        done.set()
        proc.terminate()
        proc.wait(60)


def _topics(kafka: KafkaSettings, prefix: str) -> dict[str, str]:
    names = {
        "raw": f"{prefix}.raw",
        "clean": f"{prefix}.clean",
        "dlq": f"{prefix}.dlq",
        "labels": f"{prefix}.labels",
    }
    admin = make_admin(kafka)
    for fut in admin.create_topics([NewTopic(t, 6, 1) for t in names.values()]).values():
        fut.result(30)
    return names


def _wait_clean_path(kafka: KafkaSettings, topics: dict[str, str], proc: subprocess.Popen[bytes]) -> None:
    """Until a probe produced to raw comes out on clean (the real-time query is running)."""
    producer = Producer(kafka.librdkafka())
    consumer = Consumer(
        kafka.librdkafka() | {"group.id": f"bench-up-{time.time()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topics["clean"]])
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            producer.produce(topics["raw"], _probe("up", "1"), b"1")
            producer.flush(10)
            if any(m.error() is None for m in consumer.consume(100, 1.0)):
                return
    finally:
        consumer.close()
    raise RuntimeError("ingest's clean path never came up: see bench-results/ingest-latency.log")


def bench_ingest(kafka: KafkaSettings, env: dict[str, str], days: int = 60) -> dict[str, float]:
    """Sustained events/s into Delta (a backlog), raw→clean latency at 2k/s (defaults, fresh topics,
    over a whole real-time checkpoint interval), peak RSS of driver + JVM over both."""
    topics = _topics(kafka, "bench.ingest")
    table = simulate(SimulationConfig(n_days=days))
    replay(kafka, build_stream(table), ReplayOptions(topics["raw"], topics["labels"]))
    n = table.num_rows
    out = PROJECT_ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    peak = [0.0]

    def ingest_env(names: dict[str, str], lake: str) -> dict[str, str]:
        return env | {
            "INGEST_RAW_TOPIC": names["raw"],
            "INGEST_CLEAN_TOPIC": names["clean"],
            "INGEST_DLQ_TOPIC": names["dlq"],
            "INGEST_LAKE_ROOT": lake,
        }

    # Throughput: lake batches of the default size back to back (a 1 s trigger never waits while
    # behind); the first batch (a cold JVM) is not counted, so the backlog holds several batches.
    backlog_env = {"INGEST_LAKE_TRIGGER": "1 second"}
    with (
        tempfile.TemporaryDirectory(prefix="rtloop-bench-lake-") as lake,
        (out / "ingest.log").open("wb") as log,
        _ingest(ingest_env(topics, lake) | backlog_env, log, peak) as proc,
    ):
        tx_path = Path(lake) / "transactions"
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + 900
        rows = 0
        while rows < n and time.monotonic() < deadline and proc.poll() is None:
            rows, _ = rows_and_version(tx_path)
            if rows and first is None:
                first = (time.monotonic(), rows)
            time.sleep(0.5)
        end = time.monotonic()
        if first is None or rows < n:
            raise RuntimeError(f"ingest reached {rows} of {n} rows")
        sustained = (rows - first[1]) / max(end - first[0], 1e-9)
    # Latency with the shipped settings, over a whole checkpoint interval and then some: each
    # real-time batch boundary pauses the clean path, and a shorter window shows it in or out by luck.
    window = interval_seconds(IngestSettings().realtime_checkpoint_interval) + 30
    lat_topics = _topics(kafka, "bench.ingest.latency")
    with (
        tempfile.TemporaryDirectory(prefix="rtloop-bench-lake-") as lake,
        (out / "ingest-latency.log").open("wb") as log,
        _ingest(ingest_env(lat_topics, lake), log, peak) as proc,
    ):
        _wait_clean_path(kafka, lat_topics, proc)
        # 30 s first: the JIT warms up and the lake's first (cold, ~20 s) batches catch up.
        latency = _latency(kafka, lat_topics["raw"], lat_topics["clean"], 2000, window, warmup_s=30)
    return {
        "ingest_backlog_events": float(n),
        "ingest_delta_events_per_s": sustained,
        "ingest_latency_window_s": float(window),
        **{f"ingest_raw_to_clean_{k}_ms": v for k, v in latency.items()},
        "ingest_peak_rss_mb": peak[0],
    }
