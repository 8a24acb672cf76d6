"""The fraud views on the window state: boundaries, ties, labels early and late, empty windows, duplicates."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.usecase.views import DAY_S, Aggregation, FeatureView
from services.features.adapters.sinks import waves
from services.features.windows import EntityWindows
from usecases.fraud import EVENT_INPUTS, FEATURE_NAMES, FRAUD, FRAUD_V1, inputs

T0 = int(datetime(2018, 4, 2, 12, 0, tzinfo=UTC).timestamp())  # a Monday, noon
CUSTOMER, TERMINAL = FRAUD.features.views


def run_customer(events: list[tuple[str, int, float]]) -> list[dict[str, float]]:
    """Each (id, ts, amount) into one customer's state; its customer features after each."""
    state = EntityWindows(1)
    out = []
    for event_id, ts, amount in events:
        at, _new = state.observe(event_id, ts, [amount])
        out.append(state.aggregate(CUSTOMER, ts, at))
    return out


def terminal_at(state: EntityWindows, ts: int) -> dict[str, float]:
    """The terminal features of an event at `ts` that is not in the state yet."""
    at, _ = state.observe("now", ts, [])
    return state.aggregate(TERMINAL, ts, at)


def test_fifteen_inputs_in_model_order_and_the_feature_service_serves_them() -> None:
    assert len(FEATURE_NAMES) == 15
    assert FEATURE_NAMES[:3] == EVENT_INPUTS == ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"]
    assert FRAUD_V1.feature_names == FEATURE_NAMES
    assert [(v.name, v.join_key) for v in FRAUD_V1.views] == [
        (v.name, v.entity) for v in FRAUD.features.views
    ]


def test_current_transaction_counts_and_window_is_left_open() -> None:
    # exactly 1 day earlier is outside (t − 1 d, t]; one second later is inside
    f = run_customer([("a", T0 - DAY_S, 10.0), ("b", T0 - DAY_S + 1, 20.0), ("c", T0, 60.0)])[-1]
    assert f["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2
    assert f["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == pytest.approx(40.0)
    assert f["CUSTOMER_ID_NB_TX_7DAY_WINDOW"] == 3
    assert f["CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"] == pytest.approx(30.0)


@pytest.mark.parametrize("n", [1, 7, 30])
@pytest.mark.parametrize(("back", "inside"), [(0, False), (-1, True)])
def test_boundary_at_exactly_n_days(n: int, back: int, inside: bool) -> None:
    """n days back is outside the n-day window, one second less is inside."""
    f = run_customer([("old", T0 - n * DAY_S - back, 100.0), ("now", T0, 1.0)])[-1]
    assert f[f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] == 1 + inside
    assert f[f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] == pytest.approx(50.5 if inside else 1.0)


def test_same_second_ties_count_the_ones_already_seen_and_are_ranked() -> None:
    first, second = run_customer([("a", T0, 10.0), ("b", T0, 30.0)])
    assert first["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1
    assert second["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2
    assert second["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == pytest.approx(20.0)
    state = EntityWindows(1)
    ranks = [state.rank(state.observe(i, ts, [1.0])[0]) for i, ts in [("a", T0), ("x", T0 - 1), ("c", T0)]]
    assert ranks == [0, 0, 1]
    assert state.rank(state.observe("a", T0, [1.0])[0]) == 0  # a repeat keeps its rank


def test_duplicate_transaction_never_counts_twice() -> None:
    state = EntityWindows(1)
    assert state.observe("a", T0, [10.0]) == (0, True)
    assert state.observe("a", T0, [10.0]) == (0, False)
    assert state.aggregate(CUSTOMER, T0, 0)["CUSTOMER_ID_NB_TX_30DAY_WINDOW"] == 1
    assert len(state) == 1


def test_time_flags() -> None:
    """The handbook's flags: Saturday or Sunday; hour 00-06 (UTC), 06:59:59 in and 07:00 out."""
    saturday_night = int(datetime(2018, 4, 7, 6, 59, 59, tzinfo=UTC).timestamp())
    monday_morning = int(datetime(2018, 4, 9, 7, 0, 0, tzinfo=UTC).timestamp())
    sunday_midnight = int(datetime(2018, 4, 8, 0, 0, 0, tzinfo=UTC).timestamp())
    flags = ("TX_DURING_WEEKEND", "TX_DURING_NIGHT")
    event = type("Tx", (), {"amount": 12})()
    assert inputs is not None
    assert [inputs(event, saturday_night)[f] for f in flags] == [1.0, 1.0]
    assert [inputs(event, monday_morning)[f] for f in flags] == [0.0, 0.0]
    assert [inputs(event, sunday_midnight)[f] for f in flags] == [1.0, 1.0]
    assert inputs(event, monday_morning)["TX_AMOUNT"] == 12.0


def test_terminal_windows_are_delayed_and_risk_is_the_fraud_share() -> None:
    state = EntityWindows(0)
    # at t: the 1-day delayed window is (t − 8 d, t − 7 d]
    for event_id, ts in [
        ("in1", T0 - 7 * DAY_S),  # boundary t − 7 d: inside
        ("in2", T0 - 8 * DAY_S + 1),
        ("out-recent", T0 - 7 * DAY_S + 1),  # inside the delay: never counted
        ("out-old", T0 - 8 * DAY_S),  # left boundary: outside
    ]:
        state.observe(event_id, ts, [])
    state.label("in1", T0 - 7 * DAY_S, True)
    f = terminal_at(state, T0)
    assert f["TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 2
    assert f["TERMINAL_ID_RISK_1DAY_WINDOW"] == pytest.approx(0.5)
    assert f["TERMINAL_ID_NB_TX_7DAY_WINDOW"] == 3


def test_empty_terminal_window_has_risk_zero() -> None:
    f = terminal_at(EntityWindows(0), T0)
    assert set(f) == set(TERMINAL.feature_names) and all(v == 0.0 for v in f.values())


def test_label_before_its_transaction_is_held_and_counted_once() -> None:
    state = EntityWindows(0)
    when = T0 - 10 * DAY_S
    assert state.label("x", when, True) is True  # label first
    assert state.observe("x", when, []) == (0, False)  # then its transaction: no second entry
    assert state.label("x", when, True) is False  # the same label again: applied once
    assert state.label("x", when, False) is True and state.label("x", when, True) is True  # corrected
    f = terminal_at(state, T0)
    assert f["TERMINAL_ID_NB_TX_7DAY_WINDOW"] == 1
    assert f["TERMINAL_ID_RISK_7DAY_WINDOW"] == 1.0


def test_feedback_first_fills_the_value_when_its_event_comes() -> None:
    view = CUSTOMER.model_copy(update={"windows_days": (1,)})
    state = EntityWindows(1)
    state.label("x", T0, False)
    at, _ = state.observe("y", T0, [4.0])
    assert state.aggregate(view, T0, at)["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == 4.0  # x's value unknown
    at, new = state.observe("x", T0 - 5, [2.0])
    assert not new and state.times[at] == T0 and state.labels[at] == 0  # keeps its time and label
    assert state.aggregate(view, T0, at)["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == 3.0
    assert state.unknown == 0  # no value left unknown: sums take the fast path again


def test_an_event_must_bring_one_value_per_column_and_one_key_per_key_column() -> None:
    state = EntityWindows(1)
    state.label("b", T0, True)
    for wrong in ([1.0, 2.0], []):
        with pytest.raises(ValueError, match=f"{len(wrong)} values and 0 keys for a view that keeps 1 and 0"):
            state.observe("a", T0, wrong)
        with pytest.raises(ValueError, match="keeps 1"):
            state.observe("b", T0, wrong)
    with pytest.raises(ValueError, match="1 values and 1 keys for a view that keeps 1 and 0"):
        state.observe("a", T0, [1.0], ["u1"])
    assert state.dump() == [[T0], ["b"], [[None]], [1]]  # unchanged


def test_a_distinct_count_of_a_field_across_a_changelog_record_and_feedback_first() -> None:
    """A view counting distinct users per item: its record keeps them after the labels, a view
    without key columns keeps the record it always had, and an event whose feedback came first
    brings its key with it."""
    state = EntityWindows.load(None, 0, 1)  # an entity not seen before, as the engine makes it
    state.observe("a", T0, [], ["u1"])
    state.label("c", T0 + 2, True)  # its event comes later
    state.observe("b", T0 + 1, [], ["u1"])
    assert state.dump() == [[T0, T0 + 1, T0 + 2], ["a", "b", "c"], [], [-1, -1, 1], [["u1", "u1", None]]]
    back = EntityWindows.load(json.loads(json.dumps(state.dump())), 0, 1)
    assert back.unknown == 1
    back.observe("c", T0 + 2, [], ["u2"])
    assert back.keys == [["u1", "u1", "u2"]] and back.unknown == 0
    view = FeatureView(
        name="item",
        entity="item_id",
        windows_hours=(1,),
        aggregations=(Aggregation(function="distinct", column="user_id", name="USERS_{hours}H"),),
    )
    assert back.aggregate(view, T0 + 2, 2) == {"USERS_1H": 2.0}
    with pytest.raises(ValueError, match="0 key columns, not 1"):
        EntityWindows.load([[T0], ["a"], [], [-1]], 0, 1)  # a record of a view without key columns


def test_the_changelog_record_of_a_state() -> None:
    """Its form is a contract with the records already in the changelog topics."""
    state = EntityWindows(1)
    state.observe("a", T0, [2.5])
    state.label("b", T0 - 1, True)  # feedback first: value unknown (null) until its event comes
    assert state.dump() == [[T0 - 1, T0], ["b", "a"], [[None, 2.5]], [1, -1]]
    assert EntityWindows.load(json.loads(json.dumps(state.dump())), 1).dump() == state.dump()


def test_late_label_changes_risk_after_the_fact() -> None:
    state = EntityWindows(0)
    when = T0 - 9 * DAY_S
    state.observe("x", when, [])
    assert terminal_at(state, T0)["TERMINAL_ID_RISK_7DAY_WINDOW"] == 0.0  # unlabelled yet
    state.label("x", when, True)
    assert terminal_at(state, T0)["TERMINAL_ID_RISK_7DAY_WINDOW"] == 1.0


def test_pruning_drops_exactly_what_is_at_or_before_the_horizon() -> None:
    state = EntityWindows(1)
    for event_id, ts in [("old", T0 - 40 * DAY_S), ("edge", T0 - 31 * DAY_S), ("in", T0 - 31 * DAY_S + 1)]:
        state.observe(event_id, ts, [1.0])
    state.prune(T0 - 41 * DAY_S)
    assert len(state) == 3
    state.prune(T0 - 31 * DAY_S)
    assert state.ids == ["in"]


def test_waves_put_each_entity_once_and_keep_order() -> None:
    items = [("c1", "t1"), ("c2", "t1"), ("c1", "t2"), ("c3", "t3")]
    out = waves(items, lambda i: i[0], lambda i: i[1])
    assert out == [[("c1", "t1"), ("c3", "t3")], [("c2", "t1"), ("c1", "t2")]]
    for wave in out:
        assert len({i[0] for i in wave}) == len(wave) and len({i[1] for i in wave}) == len(wave)


def test_state_read_back_from_the_changelog_is_the_same_state_and_keeps_the_cycle_collector_idle() -> None:
    state = EntityWindows(1)
    for i in range(200):
        ts = T0 + i * 900 - (i * 7919) % DAY_S
        state.observe(f"t{i}", ts, [round(i * 1.37, 2)])
        if i % 3 == 0:
            state.label(f"t{i}", ts, i % 2 == 0)
    state.label("early", T0, True)  # feedback whose event has not come: an unknown value
    stored: Any = json.loads(json.dumps(state.dump()))  # what a JSON changelog gives back
    again = EntityWindows.load(stored, 1)
    assert again.dump() == state.dump() and again.unknown == state.unknown == 1
    assert EntityWindows.load(None, 1).dump() == [[], [], [[]], []]
    with pytest.raises(ValueError, match="value columns"):
        EntityWindows.load(stored, 2)
    gc.collect()
    before = len(gc.get_objects())
    kept = EntityWindows.load(stored, 1)
    assert len(gc.get_objects()) - before < 10 and len(kept) == 201  # a few objects per entity, not per event
