"""Micro-batches are bounded by size and by a maximum wait (or, eager, are what is queued as soon as anything
is); the transactional mode publishes a batch and its offsets atomically (read_committed readers never see
an aborted batch)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from services.common.kafka import Envelope, Output, Runner, RunnerConfig
from services.common.kafka.clients import make_consumer, make_producer
from tests.integration.test_runner_process import committed, produce
from tests.kafka_helpers import Broker, consume, unique

pytestmark = pytest.mark.integration


def _runner(broker: Broker, src: str, out: str, group: str, handler: Any, **config: Any) -> Runner:
    transactional = config.get("transactional", False)
    producer = make_producer(broker.kafka, **({"transactional.id": unique("tx")} if transactional else {}))
    return Runner(
        RunnerConfig(service="batching", dlq_topic=out, **config),
        consumer=make_consumer(broker.kafka, group),
        producer=producer,
        decoders={src: lambda raw: raw},
        handler=handler,
    )


def _run_until(runner: Runner, done: threading.Event, timeout_s: float = 60) -> None:
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    assert done.wait(timeout_s), "the handler did not see every message in time"
    runner.stop()
    thread.join(30)


def _backlog_then_late(
    broker: Broker, name: str, late: int, after_s: float, **config: Any
) -> tuple[list[tuple[int, float]], float]:
    """10 messages, then `late` more `after_s` after the first batch: each batch's size and when the
    handler saw it, and when the late ones were produced."""
    src, out = broker.topic(f"{name}-in", 1), broker.topic(f"{name}-out", 1)
    produce(broker, src, [b"x"] * 10)
    seen: list[tuple[int, float]] = []
    produced_at: list[float] = []
    done = threading.Event()

    def produce_late() -> None:  # well after the backlog was consumed
        time.sleep(after_s)
        produced_at.append(time.monotonic())
        produce(broker, src, [b"y"] * late)

    def handler(envs: Sequence[Envelope[Any]]) -> list[Output]:
        seen.append((len(envs), time.monotonic()))
        if len(seen) == 1:
            threading.Thread(target=produce_late, daemon=True).start()
        if sum(n for n, _ in seen) >= 10 + late:
            done.set()
        return []

    _run_until(_runner(broker, src, out, unique("g"), handler, **config), done)
    return seen, produced_at[0]


def test_batches_close_at_the_size_limit_and_at_the_deadline(broker: Broker) -> None:
    """A backlog of 10 in batches of at most 4: two full ones at once, then the 2 left over wait out the
    1.5 s deadline (not longer: the batch does not wait to fill); 3 produced later come within one."""
    seen, produced_at = _backlog_then_late(broker, "batch", 3, 2, max_batch_size=4, max_batch_wait_s=1.5)
    sizes = [n for n, _ in seen]
    assert sizes == [4, 4, 2, 3], "full batches at the size limit, partial ones at the deadline"
    waited = seen[2][1] - seen[1][1]
    assert 1.45 <= waited < 2.5, f"the partial batch came {waited:.2f} s after the full one, not at 1.5 s"
    late = seen[3][1] - produced_at
    assert late < 2.5, f"the late messages waited {late:.2f} s: more than one 1.5 s deadline"


def test_an_eager_runner_hands_over_what_is_queued_without_waiting_for_a_batch_to_fill(
    broker: Broker,
) -> None:
    seen, produced_at = _backlog_then_late(
        broker, "eager", 1, 2, max_batch_size=4, max_batch_wait_s=5, eager=True
    )
    assert [n for n, _ in seen[:2]] == [4, 4], "a backlog still comes in full batches"
    assert sum(n for n, _ in seen) == 11 and seen[-1][0] == 1
    assert seen[-1][1] - produced_at < 2.5, "the lone message did not wait for the 5 s batch deadline"


@pytest.mark.parametrize(
    ("where", "topic_limit", "poison", "aborts"),
    [
        # refused by the producer on the spot: its source is dead-lettered in the same transaction, no
        # abort (an abort right after begin can fail fatally in librdkafka, confluentinc/librdkafka#4849)
        ("producer", "8388608", b"x" * (9 << 20), (0, 0)),
        # accepted by the producer, refused by the topic while the loop already consumed the next batch:
        # both are rewound. librdkafka then also purges the next transaction's messages (a bare producer
        # does the same): that one aborts and comes again too
        ("broker", "4096", os.urandom(20_000), (1, 2)),
    ],
)
def test_a_refused_output_never_duplicates_or_loses_an_input(
    broker: Broker, where: str, topic_limit: str, poison: bytes, aborts: tuple[int, int]
) -> None:
    n = 300
    src, dlq = broker.topic(f"txn-in-{where}", 2), broker.topic(f"txn-dlq-{where}", 1)
    out = broker.topic(f"txn-out-{where}", 2, **{"max.message.bytes": topic_limit})
    group = unique("g")
    produce(broker, src, [str(i).encode() for i in range(n)])
    calls = {"n": 0}
    done = threading.Event()
    delivered: list[bytes] = []

    def handler(envs: Sequence[Envelope[Any]]) -> list[Output]:
        calls["n"] += 1
        outputs = [Output(out, e.raw, key=e.key) for e in envs]
        if calls["n"] == 2:  # one more output of the second batch, derived from its middle input
            source = envs[len(envs) // 2]
            outputs.insert(len(outputs) // 2, Output(out, poison, source=source))
        delivered.extend(e.raw for e in envs)
        if len(set(delivered)) >= n and calls["n"] > 4:
            done.set()
        return outputs

    producer = make_producer(broker.kafka, **{"transactional.id": unique("tx")})
    runner = Runner(
        RunnerConfig(
            service="batching", dlq_topic=dlq, max_batch_size=40, transactional=True, delivery_timeout_s=10
        ),
        consumer=make_consumer(broker.kafka, group),
        producer=producer,
        decoders={src: lambda raw: raw},
        handler=handler,
    )
    _run_until(runner, done, timeout_s=120)
    assert runner._transaction is not None and aborts[0] <= runner._transaction.aborts <= aborts[1]
    values = sorted(int(m.value()) for m in consume(broker.kafka, out, n, timeout_s=30))
    assert values == list(range(n)), "each input exactly once among committed outputs"
    assert sum(committed(broker, group, src, 2).values()) == n, "offsets committed in the transactions"
    if where == "producer":
        (dead,) = consume(broker.kafka, dlq, 1, timeout_s=30)
        assert int(dead.value()) in range(n) and b"refused" in dict(dead.headers())["rtloop.error.message"]
