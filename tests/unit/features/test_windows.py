"""Window arithmetic of the 15 inputs: boundaries, ties, labels early and late, empty windows, duplicates."""

from __future__ import annotations

import gc
import json
import random
from datetime import UTC, datetime

import pytest

from services.features.transforms import (
    DAY_S,
    FEATURE_NAMES,
    CustomerState,
    TerminalState,
    Tx,
    apply_label,
    customer_features,
    customer_state,
    customer_step,
    observe_customer,
    observe_terminal,
    prune_customer,
    prune_terminal,
    rank_in_second,
    terminal_features,
    terminal_state,
    time_features,
    waves,
)

T0 = int(datetime(2018, 4, 2, 12, 0, tzinfo=UTC).timestamp())  # a Monday, noon


def tx(i: str, ts: int, amount: float = 10.0, customer: str = "c", terminal: str = "t") -> Tx:
    return Tx(tx_id=i, customer_id=customer, terminal_id=terminal, ts=ts, amount=amount)


def run_customer(events: list[Tx]) -> list[dict[str, float]]:
    state: CustomerState = []
    out = []
    for e in events:
        observe_customer(state, e)
        out.append(customer_features(state, e))
    return out


def test_fifteen_inputs_in_model_order() -> None:
    assert len(FEATURE_NAMES) == 15
    assert FEATURE_NAMES[:3] == ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"]


def test_current_transaction_counts_and_window_is_left_open() -> None:
    # exactly 1 day earlier is outside (t − 1 d, t]; one second later is inside
    f = run_customer([tx("a", T0 - DAY_S, 10.0), tx("b", T0 - DAY_S + 1, 20.0), tx("c", T0, 60.0)])[-1]
    assert f["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2
    assert f["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == pytest.approx(40.0)
    assert f["CUSTOMER_ID_NB_TX_7DAY_WINDOW"] == 3
    assert f["CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"] == pytest.approx(30.0)


@pytest.mark.parametrize(("n", "inside"), [(1, False), (7, False), (30, False)])
def test_boundary_at_exactly_n_days(n: int, inside: bool) -> None:
    f = run_customer([tx("old", T0 - n * DAY_S, 100.0), tx("now", T0, 1.0)])[-1]
    assert f[f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] == 1 + inside
    assert f[f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] == pytest.approx(1.0)


def test_same_second_ties_count_the_ones_already_seen() -> None:
    first, second = run_customer([tx("a", T0, 10.0), tx("b", T0, 30.0)])
    assert first["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1
    assert second["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2
    assert second["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == pytest.approx(20.0)


def test_duplicate_transaction_never_counts_twice() -> None:
    state: CustomerState = []
    a = tx("a", T0, 10.0)
    assert observe_customer(state, a) is True
    assert observe_customer(state, a) is False
    assert customer_features(state, a)["CUSTOMER_ID_NB_TX_30DAY_WINDOW"] == 1
    terminal: dict[str, list[int]] = {}
    assert observe_terminal(terminal, a) is True
    assert observe_terminal(terminal, a) is False
    assert len(terminal) == 1


def test_time_flags() -> None:
    saturday_night = int(datetime(2018, 4, 7, 6, 59, 59, tzinfo=UTC).timestamp())
    monday_morning = int(datetime(2018, 4, 9, 7, 0, 0, tzinfo=UTC).timestamp())
    assert time_features(saturday_night) == (1, 1)
    assert time_features(monday_morning) == (0, 0)


def test_terminal_windows_are_delayed_and_risk_is_the_fraud_share() -> None:
    state: dict[str, list[int]] = {}
    # at t: the 1-day delayed window is (t − 8 d, t − 7 d]
    observe_terminal(state, tx("in1", T0 - 7 * DAY_S))  # boundary t − 7 d: inside
    observe_terminal(state, tx("in2", T0 - 8 * DAY_S + 1))
    observe_terminal(state, tx("out-recent", T0 - 7 * DAY_S + 1))  # inside the delay: never counted
    observe_terminal(state, tx("out-old", T0 - 8 * DAY_S))  # left boundary: outside
    apply_label(state, "in1", T0 - 7 * DAY_S, True)
    f = terminal_features(state, T0, delay_days=7)
    assert f["TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 2
    assert f["TERMINAL_ID_RISK_1DAY_WINDOW"] == pytest.approx(0.5)
    assert f["TERMINAL_ID_NB_TX_7DAY_WINDOW"] == 3


def test_empty_terminal_window_has_risk_zero() -> None:
    f = terminal_features({}, T0, delay_days=7)
    assert all(f[k] == 0.0 for k in f)


def test_label_before_its_transaction_is_held_and_counted_once() -> None:
    state: dict[str, list[int]] = {}
    when = T0 - 10 * DAY_S
    assert apply_label(state, "x", when, True) is True  # label first
    assert observe_terminal(state, tx("x", when)) is False  # then its transaction: no second entry
    assert apply_label(state, "x", when, True) is False  # the same label again: applied once
    f = terminal_features(state, T0, delay_days=7)
    assert f["TERMINAL_ID_NB_TX_7DAY_WINDOW"] == 1
    assert f["TERMINAL_ID_RISK_7DAY_WINDOW"] == 1.0


def test_late_label_changes_risk_after_the_fact() -> None:
    state: dict[str, list[int]] = {}
    when = T0 - 9 * DAY_S
    observe_terminal(state, tx("x", when))
    assert terminal_features(state, T0, 7)["TERMINAL_ID_RISK_7DAY_WINDOW"] == 0.0  # unlabelled yet
    apply_label(state, "x", when, True)
    assert terminal_features(state, T0, 7)["TERMINAL_ID_RISK_7DAY_WINDOW"] == 1.0


def test_pruning_keeps_what_windows_and_lateness_can_reach() -> None:
    state: CustomerState = [
        [T0 - 40 * DAY_S, 1.0, "old"],
        [T0 - 30 * DAY_S, 1.0, "edge"],
        [T0, 1.0, "new"],
    ]
    kept = prune_customer(state, lateness_s=DAY_S)
    assert [e[2] for e in kept] == ["edge", "new"]
    terminal = {"old": [T0 - 39 * DAY_S, 0], "kept": [T0 - 37 * DAY_S, 1]}
    assert set(prune_terminal(terminal, T0, 7, DAY_S)) == {"kept"}


def test_rank_orders_rows_of_one_second() -> None:
    entries = [("a", T0), ("b", T0 - 1), ("c", T0)]
    assert rank_in_second(entries, tx("a", T0)) == 0
    assert rank_in_second(entries, tx("c", T0)) == 1


def test_waves_put_each_entity_once_and_keep_order() -> None:
    items = [("c1", "t1"), ("c2", "t1"), ("c1", "t2"), ("c3", "t3")]
    out = waves(items, lambda i: i[0], lambda i: i[1])
    assert out == [[("c1", "t1"), ("c3", "t3")], [("c2", "t1"), ("c1", "t2")]]
    for wave in out:
        assert len({i[0] for i in wave}) == len(wave) and len({i[1] for i in wave}) == len(wave)


def test_customer_step_equals_observe_then_features_then_rank() -> None:
    rng = random.Random(7)
    one: CustomerState = []
    three: CustomerState = []
    ids: list[str] = []
    for i in range(3_000):
        if ids and rng.random() < 0.1:  # a duplicate, sometimes with another event time
            again = rng.choice(ids)
            ts = T0 + i * 600 if rng.random() < 0.5 else T0 + rng.randrange(0, i * 600 + 1)
            event = tx(again, ts, rng.uniform(0, 500))
        else:  # same-second ties and events up to 2 days late
            ts = T0 + i * 600 - rng.choice((0, 0, 0, rng.randrange(0, 2 * DAY_S)))
            event = tx(f"t{i}", ts, round(rng.uniform(0, 500), 2))
            ids.append(event.tx_id)
        features, rank = customer_step(one, event)
        observe_customer(three, event)
        expected = customer_features(three, event)
        same_second = [(str(e[2]), int(e[0])) for e in three if int(e[0]) == event.ts]
        assert features == pytest.approx(expected, rel=1e-12, abs=1e-12)  # Python 3.12's sum() compensates
        assert rank == rank_in_second(same_second, event)
        assert one == three
        if i % 500 == 499:
            one[:] = three[:] = prune_customer(three, lateness_s=DAY_S)


def test_state_read_back_from_the_changelog_is_the_same_state_and_leaves_the_cycle_collector() -> None:
    customer: CustomerState = []
    terminal: TerminalState = {}
    rng = random.Random(5)
    for i in range(200):
        e = tx(f"t{i}", T0 + i * 900 - rng.randrange(0, DAY_S), round(rng.uniform(0, 500), 2))
        customer_step(customer, e)
        observe_terminal(terminal, e)
        apply_label(terminal, e.tx_id, e.ts, i % 3 == 0)
    stored_c, stored_t = json.loads(json.dumps(customer)), json.loads(json.dumps(terminal))
    assert type(stored_c[0]) is list  # what Faust's json changelog gives back after a restart
    assert customer_state(stored_c) == customer and terminal_state(stored_t) == terminal
    assert customer_state(None) == [] and terminal_state(None) == {}
    again = customer_state(customer)
    assert again == customer and again is not customer  # a copy to update
    gc.collect()
    entries = [*customer, *terminal.values(), *customer_state(stored_c), *terminal_state(stored_t).values()]
    gc.collect()
    assert not any(gc.is_tracked(e) for e in entries)  # full collections do not walk the state
