"""ingest benchmarks, run as deployed (a `python -m services.ingest` process with its JVM)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic

from services.common.config import KafkaSettings
from services.common.kafka.clients import make_admin
from services.tools.config import PROJECT_ROOT
from services.tools.lake import rows_and_version
from services.tools.replay import build_stream
from services.tools.replay.producer import ReplayOptions, replay
from services.tools.simulator import SimulationConfig, simulate

__all__ = ["bench_ingest"]


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


def _latency(kafka: KafkaSettings, raw: str, clean: str, rate: int, seconds: int) -> tuple[float, float]:
    """Produce at `rate`/s for `seconds`; p50 / p99 of clean CreateTime − raw CreateTime in ms."""
    producer = Producer(kafka.librdkafka() | {"linger.ms": 0})
    n = rate * seconds
    sent: dict[str, int] = {}
    start = time.time()
    for i in range(n):
        wait = start + i / rate - time.time()
        if wait > 0:
            time.sleep(wait)
        tx_id = f"lat-{i}"
        sent[tx_id] = int(time.time() * 1000)
        value = orjson.dumps(
            {
                "tx_id": tx_id,
                "event_time": "2018-04-01T00:00:00Z",
                "customer_id": str(i % 500),
                "terminal_id": "1",
                "amount": 1.0,
            }
        )
        producer.produce(raw, value, str(i % 500).encode(), timestamp=sent[tx_id])
        producer.poll(0)
    producer.flush(30)
    consumer = Consumer(
        kafka.librdkafka() | {"group.id": f"bench-lat-{time.time()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([clean])
    got: dict[str, int] = {}
    deadline = time.time() + 120
    while len(got) < n and time.time() < deadline:
        for m in consumer.consume(5000, 0.5):
            if m.error() is None:
                tx_id = orjson.loads(m.value() or b"{}").get("tx_id", "")
                if tx_id in sent:
                    got.setdefault(tx_id, m.timestamp()[1] - sent[tx_id])
    consumer.close()
    lat = sorted(got.values())
    if len(lat) < n:
        raise RuntimeError(f"only {len(lat)} of {n} latency probes reached {clean}")
    return float(lat[len(lat) // 2]), float(lat[int(len(lat) * 0.99)])


def bench_ingest(kafka: KafkaSettings, env: dict[str, str], days: int = 30) -> dict[str, float]:
    """Sustained events/s into Delta, raw→clean latency at 2k/s, peak RSS of driver + JVM."""
    admin = make_admin(kafka)
    raw, clean, dlq, labels = (
        "bench.ingest.raw",
        "bench.ingest.clean",
        "bench.ingest.dlq",
        "bench.ingest.labels",
    )
    for fut in admin.create_topics([NewTopic(t, 6, 1) for t in (raw, clean, dlq, labels)]).values():
        fut.result(30)
    table = simulate(SimulationConfig(n_days=days))
    replay(kafka, build_stream(table), ReplayOptions(raw, labels))
    n = table.num_rows
    log_path = PROJECT_ROOT / "bench-results" / "ingest.log"
    log_path.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rtloop-bench-lake-") as lake, log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"],
            cwd=PROJECT_ROOT,
            env=os.environ
            | env
            | {
                "INGEST_RAW_TOPIC": raw,
                "INGEST_CLEAN_TOPIC": clean,
                "INGEST_DLQ_TOPIC": dlq,
                "INGEST_LAKE_ROOT": lake,
                "INGEST_HEALTH_PORT": "0",
                "INGEST_LAKE_TRIGGER": "1 second",
                "INGEST_LAKE_MAX_OFFSETS_PER_TRIGGER": "60000",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.5):
                peak[0] = max(peak[0], _rss_mb(proc.pid))

        threading.Thread(target=sample, daemon=True).start()
        try:
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
            p50, p99 = _latency(kafka, raw, clean, rate=2000, seconds=15)
        finally:
            done.set()
            proc.terminate()
            proc.wait(60)
    return {
        "ingest_backlog_events": float(n),
        "ingest_delta_events_per_s": sustained,
        "ingest_raw_to_clean_p50_ms": p50,
        "ingest_raw_to_clean_p99_ms": p99,
        "ingest_peak_rss_mb": peak[0],
    }
