"""ingest against the real broker: 100k events with 1% corrupted, then the same across a SIGKILL."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from confluent_kafka import Producer

from services.common.contracts import decoder_for
from services.common.kafka.envelope import header
from services.common.kafka.scan import scan_topic
from tests.ingest_helpers import IngestRun, corrupted_coordinates, delta_table, log_retention
from tests.kafka_helpers import Broker, consume
from usecases.fraud import CONTRACTS
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, ReplayResult, replay
from usecases.fraud.simulator import SimulationConfig, simulate

pytestmark = [pytest.mark.integration, pytest.mark.slow]
N_DAYS = 11  # about 105k transactions
# the reason ingest gives each of the replay's corruption kinds
REASON = {
    "malformed_json": "malformed_json",
    "truncated_json": "malformed_json",
    "wrong_types": "wrong_type",
    "missing_fields": "missing_field",
    "non_utf8": "not_utf8",
    "empty_value": "empty_value",
    "oversized": "too_large",
}


@pytest.fixture(scope="module")
def events():  # type: ignore[no-untyped-def]
    table = simulate(SimulationConfig(n_days=N_DAYS))
    return table, build_stream(table)


def send(broker: Broker, run: IngestRun, events, rate: float | None = None) -> ReplayResult:  # type: ignore[no-untyped-def]
    _, stream = events
    labels = broker.topic("labels", 1)
    result = replay(broker.kafka, stream, ReplayOptions(run.raw, labels, rate=rate, corrupt_share=0.01))
    assert result.failed == 0
    return result


def resend_some_valid(broker: Broker, run: IngestRun, events, n: int = 1000) -> None:  # type: ignore[no-untyped-def]
    """Producers retry: the same valid transactions arrive a second time."""
    _, stream = events
    producer = Producer(broker.kafka.librdkafka())
    for _, key, value in stream.encode(np.arange(n, dtype=np.int64)):
        producer.produce(run.raw, value, key)
    assert producer.flush(30) == 0


def check_invariants(broker: Broker, run: IngestRun, events, result: ReplayResult) -> None:  # type: ignore[no-untyped-def]
    table, _ = events
    total_raw = result.transactions + 1000
    corrupted = corrupted_coordinates(broker, run.raw, total_raw)
    assert len(corrupted) == sum(result.corrupted.values())
    bad_ids = set()
    for (p, o), _kind in corrupted.items():
        bad_ids.add((p, o))
    all_ids = {str(i) for i in table.column("transaction_id").to_pylist()}
    raw_msgs = consume(broker.kafka, run.raw, total_raw, timeout_s=60)
    corrupted_tx = {m.key() for m in raw_msgs if (m.partition(), m.offset()) in bad_ids}
    valid_ids = set()
    decode = decoder_for(CONTRACTS.clean)
    for m in raw_msgs:
        if (m.partition(), m.offset()) not in bad_ids:
            valid_ids.add(m.value().split(b'"tx_id":"')[1].split(b'"')[0].decode())
    assert valid_ids <= all_ids and corrupted_tx

    tx, rejected = run.wait_lake(len(valid_ids), len(corrupted))
    time.sleep(3)  # a batch in flight would show as extra rows
    tx, rejected = delta_table(run.lake / "transactions"), delta_table(run.lake / "transactions_rejected")
    assert tx is not None and rejected is not None
    tx_ids = tx.column("tx_id").to_pylist()
    assert len(tx_ids) == len(set(tx_ids)) == len(valid_ids), "Delta must hold each valid tx_id once"
    assert set(tx_ids) == valid_ids
    assert pc.all(pc.is_valid(tx.column("kafka_offset"))).as_py()

    where = {
        (p, o): reason
        for p, o, reason in zip(
            rejected.column("kafka_partition").to_pylist(),
            rejected.column("kafka_offset").to_pylist(),
            rejected.column("reason").to_pylist(),
            strict=True,
        )
    }
    assert set(corrupted) <= set(where), "every rejected record is in transactions_rejected"
    assert rejected.num_rows == len(where), "no rejected record twice"
    wrong = {at: (kind, where[at]) for at, kind in corrupted.items() if where[at] != REASON[kind]}
    assert not wrong, f"rejected with another reason than their kind's: {list(wrong.items())[:5]}"

    # at least once: after a kill the DLQ holds copies too, so read until every source is there (or
    # the deadline), never just the first N messages
    deadline = time.monotonic() + 120
    while True:
        dead = list(scan_topic(broker.kafka, run.dlq, idle_timeout_s=3))
        dead_where = {
            (
                int(header(m.headers(), "rtloop.source.partition") or b"-1"),
                int(header(m.headers(), "rtloop.source.offset") or b"-1"),
            ): (header(m.headers(), "rtloop.error.reason") or b"").decode()
            for m in dead
        }
        if set(corrupted) <= set(dead_where) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert set(corrupted) <= set(dead_where), "every rejected record is in the DLQ"
    wrong = {at: (kind, dead_where[at]) for at, kind in corrupted.items() if dead_where[at] != REASON[kind]}
    assert not wrong, f"dead-lettered with another reason than their kind's: {list(wrong.items())[:5]}"

    # at least once after the kill: copies count as messages, so read the topic to its end, not N messages
    clean = list(scan_topic(broker.kafka, run.clean))
    assert {decode(m.value()).tx_id for m in clean} >= valid_ids, "transactions.clean has every valid tx"


def test_100k_events_one_percent_corrupted(broker: Broker, tmp_path: Path, events) -> None:  # type: ignore[no-untyped-def]
    """At ingest's defaults: the 10 s lake trigger and the 5 minute real-time checkpoint."""
    run = IngestRun.fresh(broker, tmp_path)
    run.start(INGEST_LAKE_TRIGGER="", INGEST_REALTIME_CHECKPOINT_INTERVAL="")
    try:
        result = send(broker, run, events)
        resend_some_valid(broker, run, events)
        check_invariants(broker, run, events, result)
        assert run.stop() == 0
        for table in ("transactions", "transactions_rejected"):  # not Delta's 30 days
            assert log_retention(run.lake / table) == {"interval 2 days"}
    finally:
        run.kill()


def test_sigkill_during_the_replay_loses_and_duplicates_nothing(
    broker: Broker, tmp_path: Path, events
) -> None:  # type: ignore[no-untyped-def]
    run = IngestRun.fresh(broker, tmp_path)
    run.start(INGEST_LAKE_MAX_OFFSETS_PER_TRIGGER="10000")  # the lake fills over many batches
    try:
        import threading

        box: dict[str, ReplayResult] = {}
        sender = threading.Thread(target=lambda: box.setdefault("r", send(broker, run, events, rate=8000)))
        sender.start()
        deadline = time.monotonic() + 180
        while (tx := delta_table(run.lake / "transactions")) is None or tx.num_rows <= 5000:
            run.alive()
            assert time.monotonic() < deadline, "ingest wrote no 5,000 rows in 180 s: no kill mid-stream"
            time.sleep(1)
        run.kill()
        at_kill = delta_table(run.lake / "transactions")
        sender.join()
        assert at_kill is not None and at_kill.num_rows < box["r"].transactions * 0.9, (
            f"the kill landed mid-stream: {at_kill.num_rows if at_kill else 0} of "
            f"{box['r'].transactions:,} transactions were in Delta"
        )
        resend_some_valid(broker, run, events)
        run.start(INGEST_LAKE_LOG_RETENTION="3 days")  # an existing table gets the new setting
        check_invariants(broker, run, events, box["r"])
        assert log_retention(run.lake / "transactions") == {"interval 3 days"}
    finally:
        run.kill()
