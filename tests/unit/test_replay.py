"""Replay's event stream: order, label delay, encodings that satisfy the contracts, corruption, pacing."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.contracts import decoder_for
from services.common.errors import DecodeError
from usecases.fraud import CONTRACTS
from usecases.fraud.replay import CORRUPTION_KINDS, Pacer, build_stream, corrupt
from usecases.fraud.simulator import SimulationConfig, simulate

DAY_US = 86_400 * 1_000_000


@pytest.fixture(scope="module")
def table():  # type: ignore[no-untyped-def]
    return simulate(SimulationConfig(n_customers=40, n_terminals=100, n_days=12, workers=1))


def test_every_label_comes_d_days_after_its_transaction(table) -> None:  # type: ignore[no-untyped-def]
    stream = build_stream(table, label_delay_days=7)
    times = stream.event_time_us(stream.order)
    assert np.all(np.diff(times) >= 0), "events are not in event-time order"
    position = np.empty(len(stream.order), dtype=np.int64)
    position[stream.order] = np.arange(len(stream.order))
    n = stream.n
    assert np.all(position[n:] > position[:n]), "a label precedes its transaction"
    label_times = stream.event_time_us(np.arange(n, 2 * n))
    assert np.array_equal(label_times - stream.tx_time_us, np.full(n, 7 * DAY_US))


def test_encoded_events_satisfy_the_contracts(table) -> None:  # type: ignore[no-untyped-def]
    stream = build_stream(table, label_delay_days=7)
    decode_tx, decode_label = decoder_for(CONTRACTS.raw), decoder_for(CONTRACTS.feedback)
    frauds = set(np.flatnonzero(stream.is_fraud).tolist())
    for is_label, key, value in stream.encode(stream.order[:3000]):
        if is_label:
            label = decode_label(value)
            assert (label.label_time - label.tx_event_time).days == 7
            assert label.is_fraud == (int(label.tx_id) in frauds)
        else:
            tx = decode_tx(value)
            assert key == tx.customer_id.encode()


@pytest.mark.parametrize("kind", CORRUPTION_KINDS)
def test_each_corruption_kind_is_refused_by_the_contract(table, kind: str) -> None:  # type: ignore[no-untyped-def]
    stream = build_stream(table)
    _, _, value = next(stream.encode(stream.order[:1]))
    damaged = corrupt(value, kind)
    with pytest.raises(DecodeError):
        if len(damaged) > 1_048_576:
            raise DecodeError("too_large", "over the runner's default limit")
        decoder_for(CONTRACTS.raw)(damaged)


def test_pacer_by_rate_and_by_speed() -> None:
    now = [100.0]
    rate = Pacer(rate=1000, clock=lambda: now[0])
    assert rate.delay(0, 0) == 0
    assert rate.delay(500, 0) == pytest.approx(0.5)
    speed = Pacer(speed=3600, clock=lambda: now[0])
    assert speed.delay(0, 0) == 0
    assert speed.delay(1, 7200 * 1_000_000) == pytest.approx(2.0)
    assert Pacer().delay(10**6, 0) == 0
    with pytest.raises(ValueError, match="not both"):
        Pacer(rate=1, speed=1)
