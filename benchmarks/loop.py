"""The whole loop under `rtloop up` on this machine: end-to-end latency (transaction produced → prediction
produced) at fixed rates, the maximum sustained rate and the hop that limits it, the stack's memory, and
the time to the first prediction after a restart of the stack on its earlier state."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import orjson
import pyarrow as pa
from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks import signing_key
from services.common.config import KafkaSettings
from services.common.kafka.scan import scan_topic
from services.common.usecase import load_usecase
from services.tools.config import PROJECT_ROOT
from services.tools.ops.hops import hop_latencies, loop_topics
from services.tools.ops.offsets import end_offsets, total
from services.tools.runtime.broker import free_port
from services.tools.runtime.supervisor.state import stack_pids
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.events import EventStream
from usecases.fraud.replay.producer import ReplayOptions, replay

FRAUD = load_usecase("fraud")
TOPICS = loop_topics(FRAUD)
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


def _produce_one(kafka: KafkaSettings, tx_id: str) -> str:
    """One raw transaction, produced with kcat where it is installed (a stock client: nothing of
    rtloop's), else with a plain librdkafka producer; returns which."""
    value = orjson.dumps(
        {
            "tx_id": tx_id,
            "event_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "customer_id": "17",
            "terminal_id": "42",
            "amount": 57.3,
        }
    )
    bootstrap = str(kafka.librdkafka()["bootstrap.servers"])
    if kcat := shutil.which("kcat"):
        args = [kcat, "-P", "-b", bootstrap, "-t", "transactions.raw", "-k", "17"]
        subprocess.run(args, input=value, check=True, timeout=30)
        return "kcat"
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("transactions.raw", value, b"17")
    producer.flush(30)
    return "librdkafka"


def _found_at(kafka: KafkaSettings, topic: str, start: dict[int, int], tx_id: str, timeout_s: float) -> float:
    """The Kafka timestamp (ms) of `tx_id`'s first committed message on `topic` after `start`; NaN if it
    does not come within `timeout_s`."""
    consumer = Consumer(
        kafka.librdkafka()
        | {
            "group.id": f"bench-first-{tx_id}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition(topic, p, offset) for p, offset in start.items()])
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.2):
                if m.error() is None and orjson.loads(m.value() or b"{}").get("tx_id") == tx_id:
                    return float(m.timestamp()[1])
        return float("nan")
    finally:
        consumer.close()


def _first_prediction(kafka: KafkaSettings, rtloop: list[str], env: dict[str, str]) -> dict[str, float]:
    """`rtloop up` on the state the run before left, then one event: seconds from `up` returning to its
    prediction, and when it reached each topic on the way (Kafka timestamps: one machine's clock)."""
    up = subprocess.run([*rtloop, "up"], env=env, capture_output=True, text=True, check=False, timeout=600)
    if up.returncode != 0:
        raise RuntimeError(f"rtloop up (restart) failed:\n{up.stdout}\n{up.stderr}")
    returned_ms = time.time() * 1000
    starts = {t: end_offsets(kafka, t) for t in TOPICS}
    tx_id = f"first-{int(returned_ms)}"
    client = _produce_one(kafka, tx_id)
    results = {f"loop_first_prediction_by_{client}": 1.0}
    for topic in TOPICS:  # in the loop's order: each wait starts where the one before found it
        at = _found_at(kafka, topic, starts[topic], tx_id, 300)
        results[f"loop_first_{topic.replace('.', '_')}_s"] = (at - returned_ms) / 1000
    results["loop_first_prediction_s"] = results["loop_first_predictions_s"]
    others = {
        m.value() for m in scan_topic(kafka, "transactions.clean", 1000, 3.0, starts["transactions.clean"])
    }
    results["loop_first_other_clean_messages"] = float(len(others) - 1)  # after the restart, not ours
    return results


def _rates(kafka: KafkaSettings, live: EventStream) -> dict[str, float]:
    """Each fixed rate for SECONDS_PER_RATE, then a burst as fast as possible (after the warm-up)."""
    results: dict[str, float] = {}
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
        hops = {h.name: h for h in hop_latencies(kafka, FRAUD, starts)}
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
    return results


def bench_loop(work: Path) -> dict[str, float]:
    """Figures of the whole loop; the stack is started and stopped here (its own broker and Redis)."""
    from benchmarks.scorer import _model
    from services.training.adapters.kafka_io import publish_version
    from usecases.fraud.simulator import SimulationConfig, simulate

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
            kafka,
            "models",
            _model(work / "loop-models", "logreg").model_copy(update={"stage": "production"}),
            signing_key(),
        )
        live = _live_events(table)
        before = total(end_offsets(kafka, "predictions"))
        warm = replay(kafka, replace(live, order=live.order[:WARMUP_EVENTS]), ReplayOptions(rate=RATES[0]))
        results["loop_warmup_drained"] = float(_wait_predictions(kafka, before, warm.transactions, 900))
        results |= _rates(kafka, live)
        results["loop_stack_rss_peak_mb"] = sampler.peak_mb
        sampler.stop.set()
        subprocess.run([*rtloop, "down"], env=env, capture_output=True, text=True, check=True, timeout=300)
        results |= _first_prediction(kafka, rtloop, env)
    finally:
        sampler.stop.set()
        subprocess.run([*rtloop, "down"], env=env, capture_output=True, text=True, check=False, timeout=300)
    return results
