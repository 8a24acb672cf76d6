"""The generic window aggregators against a brute-force definition, over random event and feedback streams."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.usecase.views import DAY_S, HOUR_S, Aggregation, FeatureView
from services.features.windows import EntityWindows

T0 = 1_522_627_200  # 2018-04-02 00:00:00 UTC


@dataclass(frozen=True)
class Op:
    """An event (value set) or feedback about one (target set), for one entity."""

    event_id: str
    entity: str
    ts: int
    value: float | None = None
    target: bool | None = None
    key: str | None = None  # the distinct-counted field


def brute_force(view: FeatureView, ops: list[Op], k: int) -> dict[str, float | list[str]]:
    """The definition, for event ops[k]: replay ops[0..k] into per-entity {id: [ts, value, label, key]}
    (an id counts once; feedback first makes the entry, the event fills its value and key), then aggregate the
    entity's entries with hi − n d < ts ≤ hi, hi = t − delay d, the event itself left out unless the
    view includes it; `last` lists their keys in time order, one second's in the order they first came."""
    seen = _entries(ops[: k + 1])
    event = ops[k]
    hi = event.ts - view.delay_days * DAY_S
    unit, unit_s = ("days", DAY_S) if view.windows_days else ("hours", HOUR_S)
    out: dict[str, float | list[str]] = {}
    for n in view.windows_days or view.windows_hours:
        members = [
            e
            for i, e in seen[event.entity].items()
            if hi - n * unit_s < int(e[0] or 0) <= hi and (view.include_current or i != event.event_id)
        ]
        values = [float(e[1]) for e in members if e[1] is not None]
        for agg in view.aggregations:
            if agg.window not in (None, n):
                continue
            name = agg.name.format(**{unit: n})
            if agg.function == "count":
                out[name] = float(len(members))
            elif agg.function == "sum":
                out[name] = sum(values)
            elif agg.function == "mean":
                out[name] = sum(values) / len(values) if values else 0.0
            elif agg.function == "share":
                out[name] = sum(e[2] == 1 for e in members) / len(members) if members else 0.0
            elif agg.function == "distinct":
                out[name] = float(len({e[3] for e in members if e[3]}))  # absent: not a value
            elif agg.function == "last":  # members are in first-seen order; sorted() is stable
                keys = [str(e[3]) for e in sorted(members, key=lambda e: int(e[0] or 0)) if e[3]]
                out[name] = keys[max(len(keys) - (agg.n or 0), 0) :]
            else:  # since_last: the current event never counts, whether the view includes it or not
                others = [int(e[0] or 0) for i, e in seen[event.entity].items() if i != event.event_id]
                newest = max((t for t in others if hi - n * unit_s < t <= hi), default=None)
                reach = n * unit_s + view.delay_days * DAY_S
                out[name] = float(reach if newest is None else event.ts - newest)
    return out


def _entries(ops: list[Op]) -> dict[str, dict[str, list[float | int | str | None]]]:
    """Per entity, {event id: [ts, value, label, key]} after `ops`."""
    seen: dict[str, dict[str, list[float | int | str | None]]] = {}
    for op in ops:
        entries = seen.setdefault(op.entity, {})
        entry = entries.get(op.event_id)
        if op.target is None:
            if entry is None:
                entries[op.event_id] = [op.ts, op.value, -1, op.key]
            elif entry[1] is None:
                entry[1], entry[3] = op.value, op.key
        elif entry is None:
            entries[op.event_id] = [op.ts, None, int(op.target), None]
        else:
            entry[2] = int(op.target)
    return seen


def streaming(view: FeatureView, ops: list[Op], lateness_s: int | None, round_trips: set[int]) -> list:
    """The aggregators over the same ops: per event its features, None for feedback. With
    `lateness_s`, every state is pruned after each op behind the newest event time − reach − lateness."""
    states: dict[str, EntityWindows] = {}
    newest = -(2**62)
    out: list[dict[str, float | list[str]] | None] = []
    for k, op in enumerate(ops):
        state = states.setdefault(op.entity, EntityWindows(len(view.columns), len(view.key_columns)))
        if op.target is None:
            keys = [op.key or ""] * len(view.key_columns)  # as the engine keeps an absent field
            at, _new = state.observe(op.event_id, op.ts, [op.value or 0.0] * len(view.columns), keys)
            out.append(state.aggregate(view, op.ts, at))
            newest = max(newest, op.ts)
        else:
            state.label(op.event_id, op.ts, op.target)
            out.append(None)
        if lateness_s is not None:
            for s in states.values():
                s.prune(newest - view.reach_s - lateness_s)
        if k in round_trips:  # through a changelog record and back
            stored = json.loads(json.dumps(state.dump()))
            states[op.entity] = EntityWindows.load(stored, len(view.columns), len(view.key_columns))
    return out


AGGREGATIONS = (
    Aggregation(function="count", name="n{days}"),
    Aggregation(function="sum", column="v", name="sum{days}"),
    Aggregation(function="mean", column="v", name="mean{days}"),
    Aggregation(function="share", name="share{days}"),
    Aggregation(function="since_last", name="since{days}"),
    Aggregation(function="distinct", column="k", name="distinct{days}"),
    Aggregation(function="last", column="k", n=3, name="last{days}"),
)
HOURLY = tuple(a.model_copy(update={"name": a.name.replace("{days}", "{hours}")}) for a in AGGREGATIONS)


def _view(windows: set[int], hours: bool, delay: int, current: bool, aggs: set[int]) -> FeatureView:
    lengths = {"windows_hours" if hours else "windows_days": tuple(sorted(windows))}
    return FeatureView(
        name="v",
        entity="e",
        aggregations=tuple((HOURLY if hours else AGGREGATIONS)[i] for i in sorted(aggs)),
        delay_days=delay,
        include_current=current,
        **lengths,  # type: ignore[arg-type]
    )


views = st.builds(
    _view,
    st.sets(st.sampled_from([1, 2, 7, 24, 30]), min_size=1, max_size=3),
    st.booleans(),
    st.sampled_from([0, 1, 7]),
    st.booleans(),
    st.sets(st.integers(0, len(AGGREGATIONS) - 1), min_size=1),
)

# Times on a lattice of whole days and hours ± a second, so events exactly n days or hours and exactly
# the delay apart, and ties within a second, are common; a few anywhere in the day.
times = st.builds(
    lambda day, hour, jitter: T0 + day * DAY_S + hour * HOUR_S + jitter,
    st.integers(0, 45),
    st.sampled_from([0, 0, 1, 6, 23]),
    st.one_of(st.sampled_from([0, 0, 0, 1, -1]), st.integers(0, DAY_S - 1)),
)


KEYS = st.sampled_from(["u1", "u2", "u3", None])  # None: an optional field left out


@st.composite
def streams(draw: st.DrawFn) -> list[Op]:
    """Events in any time order (late ones included), repeated ids (duplicates, sometimes with another
    time), and feedback before or after its event, or about an event that never comes."""
    ops: list[Op] = []
    ids: list[tuple[str, str, int]] = []
    for n in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["event", "event", "event", "duplicate", "feedback", "early"]))
        if kind == "duplicate" and ids:
            event_id, entity, ts = draw(st.sampled_from(ids))
            ts = draw(st.sampled_from([ts, draw(times)]))
            value, key = draw(st.sampled_from([1.0, 2.5, 100.0])), draw(KEYS)
            ops.append(Op(event_id, entity, ts, value=value, key=key))
        elif kind == "feedback" and ids:
            event_id, entity, ts = draw(st.sampled_from(ids))
            ops.append(Op(event_id, entity, ts, target=draw(st.booleans())))
        elif kind == "early":  # feedback first; its event may come later, with the same time
            entity, ts = draw(st.sampled_from("ab")), draw(times)
            ops.append(Op(f"x{n}", entity, ts, target=draw(st.booleans())))
            ids.append((f"x{n}", entity, ts))
        else:
            entity, ts = draw(st.sampled_from("ab")), draw(times)
            value = draw(st.floats(0, 1000, allow_nan=False).map(lambda v: round(v, 2)))
            ops.append(Op(f"e{n}", entity, ts, value=value, key=draw(KEYS)))
            ids.append((f"e{n}", entity, ts))
    return ops


def _same(got: dict[str, float | list[str]], want: dict[str, float | list[str]]) -> bool:
    return got.keys() == want.keys() and all(
        got[k] == want[k] if isinstance(got[k], list) else math.isclose(got[k], want[k], rel_tol=1e-9)  # type: ignore[arg-type]
        for k in got
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(views, streams(), st.sets(st.integers(0, 40), max_size=5))
def test_aggregators_equal_the_definition(view: FeatureView, ops: list[Op], round_trips: set[int]) -> None:
    got = streaming(view, ops, None, round_trips)
    for k, op in enumerate(ops):
        if op.target is None:
            want = brute_force(view, ops, k)
            assert _same(got[k] or {}, want), (k, op, got[k], want)


RARE = {
    # a re-delivered event that is not the last of its second: its own entry alone is left out
    "redelivered-mid-second": [
        *(Op("a", "a", T0, 1.0), Op("b", "a", T0, 10.0), Op("c", "a", T0, 100.0)),
        Op("a", "a", T0, 1.0),
    ],
    # feedback before its event: the event's own label stays out of its share
    "own-label-first": [Op("y", "a", T0 - 1, 5.0), Op("x", "a", T0, target=True), Op("x", "a", T0, 2.0)],
}


@pytest.mark.parametrize("ops", RARE.values(), ids=RARE.keys())
def test_aggregators_equal_the_definition_where_random_streams_rarely_go(ops: list[Op]) -> None:
    view = _view({1}, False, 0, False, set(range(len(AGGREGATIONS))))  # the current event left out
    got = streaming(view, ops, None, set())
    for k, op in enumerate(ops):
        if op.target is None:
            assert got[k] == brute_force(view, ops, k), (k, op)


def test_an_absent_field_is_no_distinct_value_and_not_an_unknown_event() -> None:
    """A view that keeps only a text field: an event without it (""), then feedback about another event
    not seen yet, then a copy of the first event that has the field: the first event's entry stays as
    it came (one copy counts, the first), and the event the feedback is about fills its own entry."""
    view = _view({1}, False, 0, True, {5})
    ops = [
        Op("a", "a", T0, 1.0, key=None),
        Op("x", "a", T0 + 1, target=True),
        Op("a", "a", T0, 1.0, key="u1"),
        Op("x", "a", T0 + 1, 1.0, key="u2"),
    ]
    got = streaming(view, ops, None, {1})
    assert [g["distinct1"] if g else None for g in got] == [0.0, None, 0.0, 1.0]
    for k in (0, 2, 3):
        assert got[k] == brute_force(view, ops, k)


def test_a_state_read_back_counts_each_unknown_event_once_whatever_its_columns() -> None:
    state = EntityWindows(2)
    state.observe("a", T0, [1.0, 2.0])
    state.label("b", T0, True)  # feedback first: both of its values unknown
    again = EntityWindows.load(json.loads(json.dumps(state.dump())), 2)
    assert again.unknown == state.unknown == 1
    again.observe("b", T0, [3.0, 4.0])
    assert again.unknown == 0  # nothing unknown left: sums take the fast path again


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(views, streams(), st.sampled_from([0, 1, 3]))
def test_pruning_behind_the_allowed_lateness_changes_nothing(
    view: FeatureView, ops: list[Op], days: int
) -> None:
    """Events at most `days` behind the newest event time seen (a repeated id with its first time):
    pruned and unpruned states agree."""
    lateness, newest, kept, first = days * DAY_S, None, [], {}
    for op in ops:
        if op.target is None:
            late = newest is not None and op.ts < newest - lateness
            if late or first.setdefault(op.event_id, op.ts) != op.ts:
                continue  # not an event this property is about
            newest = op.ts if newest is None else max(newest, op.ts)
        first.setdefault(op.event_id, op.ts)
        kept.append(op)
    assert streaming(view, kept, lateness, set()) == streaming(view, kept, None, set())


def test_the_definition_puts_the_window_bounds_where_the_spec_says() -> None:
    """The brute force itself, on hand-made cases: (t − n d, t] without delay; (t − (n + D) d, t − D d]."""
    view = FeatureView(name="v", entity="e", windows_days=(1,), aggregations=AGGREGATIONS[:1])
    ops = [Op("old", "a", T0, 1.0), Op("edge", "a", T0 + 1, 1.0), Op("now", "a", T0 + DAY_S, 1.0)]
    assert brute_force(view, ops, 2) == {"n1": 2.0}  # T0 is exactly one day back: out; T0 + 1 s: in
    delayed = view.model_copy(update={"delay_days": 7})
    ops = [Op("a", "a", T0, 1.0), Op("b", "a", T0 + DAY_S, 1.0), Op("c", "a", T0 + 8 * DAY_S, 1.0)]
    assert brute_force(delayed, ops, 2) == {"n1": 1.0}  # (t − 8 d, t − 7 d] holds b only
