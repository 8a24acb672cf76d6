"""`rtloop replay` against the real broker: every event arrives, labels D days after transactions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.common.contracts import decoder_for
from tests.kafka_helpers import Broker, consume
from usecases.fraud import CONTRACTS
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay
from usecases.fraud.simulator import SimulationConfig, simulate

pytestmark = pytest.mark.integration


def test_replay_delivers_transactions_then_their_labels_seven_days_later(broker: Broker) -> None:
    table = simulate(SimulationConfig(n_customers=60, n_terminals=200, n_days=15, workers=1))
    raw, labels = broker.topic("raw", 6), broker.topic("labels", 6)
    result = replay(broker.kafka, build_stream(table, 7), ReplayOptions(raw, labels))
    n = table.num_rows
    assert (result.transactions, result.labels, result.failed) == (n, n, 0)

    txs = consume(broker.kafka, raw, n)
    lbs = consume(broker.kafka, labels, n)
    assert len(txs) == n and len(lbs) == n
    decode_tx, decode_label = decoder_for(CONTRACTS.raw), decoder_for(CONTRACTS.feedback)
    tx_by_id = {}
    for m in txs:
        tx = decode_tx(m.value())
        tx_by_id[tx.tx_id] = (tx, m.timestamp()[1])
    assert set(tx_by_id) == {str(i) for i in table.column("transaction_id").to_pylist()}
    for m in lbs:
        label = decode_label(m.value())
        tx, produced_at = tx_by_id[label.tx_id]
        assert label.tx_event_time == tx.event_time
        assert label.label_time - tx.event_time == timedelta(days=7)
        assert m.timestamp()[1] >= produced_at, "a label was produced before its transaction"
    for partition_msgs in _by_partition(txs).values():
        times = [decode_tx(m.value()).event_time for m in partition_msgs]
        assert times == sorted(times), "per-partition event-time order is broken"


def _by_partition(msgs):  # type: ignore[no-untyped-def]
    out: dict[int, list] = {}  # type: ignore[type-arg]
    for m in sorted(msgs, key=lambda m: (m.partition(), m.offset())):
        out.setdefault(m.partition(), []).append(m)
    return out
