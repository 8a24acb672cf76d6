"""The foundation's benchmarks: broker start, decode, replay, and the runner's pass-through ceiling."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic

from services.common.config import KafkaSettings
from services.common.contracts import decoder_for
from services.common.kafka import Envelope, Output, Runner, RunnerConfig
from services.common.kafka.clients import make_admin, make_consumer, make_producer
from services.tools.ops.offsets import end_offsets, total
from services.tools.runtime.broker import EmbeddedBroker
from usecases.fraud import CONTRACTS
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay
from usecases.fraud.simulator import SimulationConfig, simulate

__all__ = ["bench_broker_start", "bench_decode", "bench_passthrough", "bench_replay", "rate_until"]
N_PASS = 150_000


def bench_broker_start(broker: EmbeddedBroker) -> dict[str, float]:
    """Seconds to a broker that serves clients: first start (formats storage), then a restart."""
    t = time.perf_counter()
    broker.start()
    first = time.perf_counter() - t
    broker.stop()
    t = time.perf_counter()
    broker.start()
    return {"broker_first_start_s": first, "broker_restart_s": time.perf_counter() - t}


def bench_decode(n: int = 300_000) -> dict[str, float]:
    """Transaction v1 decode + validate per second on one core (orjson + pydantic, strict)."""
    stream = build_stream(simulate(SimulationConfig(n_customers=500, n_days=30, workers=1)))
    values = [v for is_label, _, v in stream.encode(stream.order) if not is_label][:n]
    decode = decoder_for(CONTRACTS.raw)
    t = time.perf_counter()
    for v in values:
        decode(v)
    return {"decode_validate_per_s": len(values) / (time.perf_counter() - t)}


def _topic(kafka: KafkaSettings, name: str, partitions: int = 6) -> str:
    admin = make_admin(kafka)
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    return name


def bench_replay(kafka: KafkaSettings) -> dict[str, float]:
    """Replay producer events/s, as fast as possible, acks=all, until every event is acknowledged."""
    raw, labels = _topic(kafka, "bench.raw"), _topic(kafka, "bench.labels")
    table = simulate(SimulationConfig(n_days=12))
    result = replay(kafka, build_stream(table), ReplayOptions(raw, labels))
    return {"replay_events_per_s": result.rate, "replay_events": float(result.events)}


def _fill(kafka: KafkaSettings, topic: str, n: int) -> None:
    producer = Producer(kafka.librdkafka() | {"linger.ms": 20, "compression.type": "lz4"})
    value = orjson.dumps(
        {
            "tx_id": "1",
            "event_time": "2018-04-01T00:00:00Z",
            "customer_id": "1",
            "terminal_id": "1",
            "amount": 1.0,
        }
    )
    for i in range(n):
        while True:
            try:
                producer.produce(topic, value, str(i % 5000).encode())
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def _wait_for(kafka: KafkaSettings, topic: str, n: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while total(end_offsets(kafka, topic)) < n and time.monotonic() < deadline:
        time.sleep(0.05)


def _bare_loop(kafka: KafkaSettings, src: str, out: str, n: int, group: str) -> float:
    consumer = Consumer(
        kafka.librdkafka() | {"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    )
    producer = make_producer(kafka)
    consumer.subscribe([src])
    t, seen = time.perf_counter(), 0
    while seen < n:
        batch = consumer.consume(500, 0.1)
        for m in batch:
            producer.produce(out, m.value(), m.key())
        producer.flush(30)
        if batch:
            consumer.commit(asynchronous=False)
        seen += len(batch)
    elapsed = time.perf_counter() - t
    consumer.close()
    return n / elapsed


def _runner_loop(kafka: KafkaSettings, src: str, out: str, n: int, group: str) -> float:
    def forward(batch: Sequence[Envelope[Any]]) -> list[Output]:
        return [Output(out, env.raw, key=env.key) for env in batch]

    runner = Runner(
        RunnerConfig(service="bench", dlq_topic="bench.dlq", max_batch_size=500),
        consumer=make_consumer(kafka, group),
        producer=make_producer(kafka),
        decoders={src: lambda raw: raw},
        handler=forward,
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    t = time.perf_counter()
    thread.start()
    _wait_for(kafka, out, n)
    elapsed = time.perf_counter() - t
    runner.stop()
    thread.join(15)
    return n / elapsed


def bench_passthrough(kafka: KafkaSettings, n: int = N_PASS, rounds: int = 2) -> dict[str, float]:
    """consume → produce → commit with no work: the shared runner and a bare librdkafka loop on the
    same data, alternated over `rounds` (bare, runner, runner, bare, …); best of each is reported."""
    src = _topic(kafka, "bench.pass.in")
    _fill(kafka, src, n)
    bare: list[float] = []
    ours: list[float] = []
    for r in range(rounds):
        order = [("bare", _bare_loop), ("runner", _runner_loop)]
        for name, loop in order if r % 2 == 0 else order[::-1]:
            rate = loop(kafka, src, _topic(kafka, f"bench.pass.{name}.{r}"), n, f"{name}-{r}")
            (bare if name == "bare" else ours).append(rate)
    return {
        "passthrough_bare_msgs_per_s": max(bare),
        "passthrough_runner_msgs_per_s": max(ours),
        "runner_vs_bare_ratio": max(ours) / max(bare),
    }


def rate_until(
    count: Callable[[], int], n: int, proc: subprocess.Popen[bytes], what: str, poll_s: float = 0.05
) -> float:
    """Items/s of a service process from the first to the n-th item `count` sees (600 s at most)."""
    first = last = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        done = count()
        now = time.monotonic()
        if done and first is None:
            first = (now, done)
        if done >= n:
            last = (now, done)
            break
        time.sleep(poll_s)
    if first is None or last is None or last[0] <= first[0]:
        raise RuntimeError(f"{what} did not finish")
    return (last[1] - first[1]) / (last[0] - first[0])
