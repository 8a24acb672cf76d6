"""The whole loop under `rtloop up` on this machine: end-to-end latency (transaction produced → prediction
produced) at fixed rates, the maximum sustained rate and the hop that limits it, and the stack's memory."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa

from services.common.config import KafkaSettings
from services.tools.broker import free_port
from services.tools.config import PROJECT_ROOT
from services.tools.latency import TOPICS, hop_latencies
from services.tools.offsets import end_offsets, total
from services.tools.replay import build_stream
from services.tools.replay.events import EventStream
from services.tools.replay.producer import ReplayOptions, replay
from services.tools.supervisor.state import stack_pids

__all__ = ["bench_loop"]

RATES = (1000, 2000, 5000)
SECONDS_PER_RATE = 20
BURST = 40_000
# Not measured: right after `rtloop up` ingest's first real-time batch takes ~10 s to start reading
# (the 1k/s phase that came first had e2e p50 10-22 s in every run of 2026-11-23/24 for that alone)
WARMUP_EVENTS = 30_000


def _stack_rss_mb(cache: Path) -> float:
    """Resident memory of every process of the stack whose cache folder is `cache`."""
    rss_kb = 0
    for pid in stack_pids(cache):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb += int(line.split()[1])
    return rss_kb / 1024


class _MemorySampler(threading.Thread):
    """The peak of the stack's resident memory, sampled every second."""

    def __init__(self, cache: Path) -> None:
        super().__init__(daemon=True)
        self.cache, self.peak_mb, self.stop = cache, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.peak_mb = max(self.peak_mb, _stack_rss_mb(self.cache))


def _wait_predictions(kafka: KafkaSettings, start: int, expected: int, timeout_s: float) -> bool:
    """Until `expected` more offsets on predictions (transaction markers included: a lower bound)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if total(end_offsets(kafka, "predictions")) - start >= expected:
            return True
        time.sleep(1.0)
    return False


def _live_events(table: pa.Table) -> EventStream:
    """The stream from the 8th day on: transactions and, interleaved in event time, the labels of the
    transactions of a week before — what a live loop receives (features waits for labels to pass a
    batch's time before it computes terminal risk; a stream without labels would wait each time)."""
    stream = build_stream(table)
    times = stream.event_time_us(stream.order)
    first = int(stream.event_time_us(stream.order[:1])[0])
    return replace(stream, order=stream.order[times >= first + 8 * 86_400 * 1_000_000])


def bench_loop(work: Path) -> dict[str, float]:
    """Figures of the whole loop; the stack is started and stopped here (its own broker and Redis)."""
    from benchmarks.scorer import _model
    from services.tools.simulator import SimulationConfig, simulate
    from services.training.adapters.kafka_io import publish_version

    port = free_port()
    cache = work / "loop-cache"
    env = dict(os.environ) | {
        "RTLOOP_CACHE_DIR": str(cache),
        "RTLOOP_JARS": str(PROJECT_ROOT / ".cache" / "rtloop" / "jars"),
        "RTLOOP_LAKE_ROOT": str(work / "loop-data" / "lake"),
        "RTLOOP_BROKER_PORT": str(port),
        "RTLOOP_CONTROLLER_PORT": str(free_port()),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    kafka = KafkaSettings(embedded_port=port)
    rtloop = [sys.executable, "-m", "services.tools.cli"]
    table = simulate(SimulationConfig(n_customers=2000, n_terminals=4000, n_days=60, seed=11))
    table = table.sort_by("tx_datetime")
    up = subprocess.run([*rtloop, "up"], env=env, capture_output=True, text=True, check=False, timeout=600)
    if up.returncode != 0:
        raise RuntimeError(f"rtloop up failed:\n{up.stdout}\n{up.stderr}")
    sampler = _MemorySampler(cache)
    sampler.start()
    results: dict[str, float] = {}
    try:
        publish_version(
            kafka, "models", _model(work / "loop-models", "logreg").model_copy(update={"stage": "production"})
        )
        live = _live_events(table)
        before = total(end_offsets(kafka, "predictions"))
        warm = replay(kafka, replace(live, order=live.order[:WARMUP_EVENTS]), ReplayOptions(rate=RATES[0]))
        results["loop_warmup_drained"] = float(_wait_predictions(kafka, before, warm.transactions, 900))
        offset = WARMUP_EVENTS
        for rate in (*RATES, None):
            n = BURST if rate is None else rate * SECONDS_PER_RATE
            part = replace(live, order=live.order[offset : offset + n])
            offset += n
            starts = {t: end_offsets(kafka, t) for t in TOPICS}
            before = total(starts["predictions"])
            result = replay(kafka, part, ReplayOptions(rate=rate))
            drained = _wait_predictions(kafka, before, result.transactions, 900)
            results[f"loop_{rate or 'max'}_events_per_s_offered"] = result.rate
            hops = {h.name: h for h in hop_latencies(kafka, starts)}
            name = f"{rate}" if rate else "max"
            e2e = hops["end to end"]
            results[f"loop_{name}_e2e_p50_ms"], results[f"loop_{name}_e2e_p99_ms"] = e2e.p50_ms, e2e.p99_ms
            for hop in ("ingest", "features", "scorer"):
                results[f"loop_{name}_{hop}_p99_ms"] = hops[hop].p99_ms
            if rate is None:
                span_s = max(e2e.max_ms / 1000, 1e-3)
                results["loop_max_sustained_events_per_s"] = result.events / span_s  # labels included
                results["loop_max_sustained_transactions_per_s"] = e2e.count / span_s
                limit = max(("ingest", "features", "scorer"), key=lambda h: hops[h].max_ms)
                results[f"loop_limited_by_{limit}"] = 1.0
            results[f"loop_{name}_drained"] = 1.0 if drained else 0.0
        results["loop_stack_rss_peak_mb"] = sampler.peak_mb
    finally:
        sampler.stop.set()
        subprocess.run([*rtloop, "down"], env=env, capture_output=True, text=True, check=False, timeout=300)
    return results
