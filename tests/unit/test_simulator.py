"""The simulator reproduces HANDBOOK.md §1: check values, rules, and the full run's statistics."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from usecases.fraud.simulator import SimulationConfig, simulate
from usecases.fraud.simulator.profiles import (
    available_terminals,
    customer_profiles,
    terminal_locations,
)
from usecases.fraud.simulator.scenarios import apply_scenarios
from usecases.fraud.simulator.transactions import customer_transactions


def test_customer_zero_matches_the_handbook_check_value() -> None:
    p = customer_profiles(5000, seed=0)
    got = (p.x[0], p.y[0], p.mean_amount[0], p.std_amount[0], p.mean_nb_tx_per_day[0])
    assert got == pytest.approx((54.881350, 71.518937, 62.262521, 31.131260, 2.179533), abs=1e-6)


def test_profiles_equal_the_sequential_legacy_draws() -> None:
    np.random.seed(0)
    expected = [
        [
            np.random.uniform(0, 100),
            np.random.uniform(0, 100),
            np.random.uniform(5, 100),
            np.random.uniform(0, 4),
        ]
        for _ in range(50)
    ]
    p = customer_profiles(50)
    got = np.stack([p.x, p.y, p.mean_amount, p.mean_nb_tx_per_day], axis=1)
    assert np.array_equal(got, np.array(expected))


def test_availability_is_strictly_inside_the_radius_in_id_order() -> None:
    p = customer_profiles(20)
    terminals = terminal_locations(500)
    reach = available_terminals(p, terminals, radius=10.0)
    for c, ids in enumerate(reach):
        d = np.hypot(terminals[:, 0] - p.x[c], terminals[:, 1] - p.y[c])
        assert ids == sorted(ids)
        assert set(ids) == set(np.flatnonzero(d < 10.0).tolist())


def test_customer_draws_follow_the_reference_loop() -> None:
    """Same calls in the same order as the book's per-customer loop, written plainly here."""
    mean, std, rate, terms = 62.26, 31.13, 2.18, [3, 17, 42]
    random.seed(7)
    np.random.seed(7)
    expected = []
    for day in range(20):
        for _ in range(np.random.poisson(rate)):
            t = int(np.random.normal(86400 / 2, 20000))
            if 0 < t < 86400:
                a = np.random.normal(mean, std)
                if a < 0:
                    a = np.random.uniform(0, mean * 2)
                expected.append((t + 86400 * day, a, random.choice(terms)))
    times, amounts, picked = customer_transactions(7, mean, std, rate, terms, 20)
    assert list(zip(times.tolist(), amounts.tolist(), picked.tolist(), strict=True)) == expected


def test_scenarios_apply_in_order_and_three_multiplies_amounts() -> None:
    """With 2 terminals and 3 customers every terminal and customer is compromised on day 0:
    scenario 2 marks all 30 rows, then scenario 3 re-marks floor(30 / 3) = 10 of them."""
    days = np.repeat(np.array([0, 1], dtype=np.int64), 15)
    customer = np.arange(30, dtype=np.int64) % 3
    terminal = np.arange(30, dtype=np.int64) % 2
    amount = np.full(30, 10.0)
    amount[0] = 250.0
    new_amount, fraud, scenario = apply_scenarios(amount, days, customer, terminal, 3, 2)
    tripled = np.flatnonzero(scenario == 3)
    assert len(tripled) == 10
    assert np.array_equal(new_amount[tripled], amount[tripled] * 5)
    untouched = np.setdiff1d(np.arange(30), tripled)
    assert np.array_equal(new_amount[untouched], amount[untouched])
    assert set(scenario[untouched].tolist()) == {2}, "scenario 2 must overwrite scenario 1"
    assert np.all(fraud == 1)


def test_small_run_is_deterministic_and_time_ordered() -> None:
    cfg = SimulationConfig(n_customers=50, n_terminals=100, n_days=10, workers=1)
    a, b = simulate(cfg), simulate(cfg)
    assert a.equals(b)
    secs = a.column("tx_time_seconds").to_numpy()
    assert np.all(np.diff(secs) >= 0)
    assert a.column("transaction_id").to_pylist() == list(range(a.num_rows))


@pytest.mark.slow
def test_full_run_reproduces_the_books_statistics() -> None:
    table = simulate(SimulationConfig())
    fraud = table.column("tx_fraud").to_numpy()
    scenario = table.column("tx_fraud_scenario").to_numpy()
    assert table.num_rows == 1_754_155
    assert int(fraud.sum()) == 14_681
    assert [int((scenario == k).sum()) for k in (1, 2, 3)] == [973, 9_077, 4_631]
    assert float(table.column("tx_amount").to_numpy().max()) == 2628.0


def test_drift_scenarios_shift_amounts_from_their_day_and_add_a_terminal_wave() -> None:
    from usecases.fraud.simulator.drift import WAVE_SCENARIO, parse_drift

    base = SimulationConfig(300, 600, 30, workers=1)
    plain = simulate(base)
    drifted = simulate(
        dataclasses.replace(
            base, drifts=(parse_drift("amount:2018-04-15:0.5:2"), parse_drift("terminals:2018-04-20:30:5"))
        )
    )
    days = plain.column("tx_time_days").to_numpy()
    a, b = plain.column("tx_amount").to_numpy(), drifted.column("tx_amount").to_numpy()
    assert (a[days < 14] == b[days < 14]).all(), "nothing changes before the drift's day"
    assert b[days >= 14].mean() / a[days >= 14].mean() == pytest.approx(1.5, abs=0.1), "half the customers ×2"
    wave = drifted.column("tx_fraud_scenario").to_numpy() == WAVE_SCENARIO
    assert wave.any() and ((days[wave] >= 19) & (days[wave] < 24)).all(), "the wave's frauds in its 5 days"
    assert drifted.column("tx_fraud").to_numpy()[wave].all()
    with pytest.raises(ValueError, match="amount:YYYY-MM-DD"):
        parse_drift("amount:someday")
