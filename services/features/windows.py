"""One entity's events in one view, kept in event-time order, and the generic window aggregators over them."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from services.common.usecase.views import DAY_S, FeatureView

__all__ = ["UNLABELLED", "EntityWindows"]

UNLABELLED = -1
_NAN = math.nan


class EntityWindows:
    """The events of one entity that a view's windows can still reach, sorted by event time (events
    of one second in arrival order), as parallel lists: times, ids, one list per value column, one
    per key column (text, for distinct counts and lists; "" for an absent field, never counted),
    labels (1 true, 0 false, -1 not known yet). An event counts once (by id); feedback about an
    event not seen yet is kept and counts that event from then on (its values and keys are unknown,
    NaN and None, until it comes).

    Lists of plain numbers and strings: the state of thousands of entities adds a few objects each
    for Python's cycle collector to walk, not one per event."""

    __slots__ = ("ids", "keys", "labels", "times", "unknown", "values")

    def __init__(self, columns: int, keys: int = 0) -> None:
        self.times: list[int] = []
        self.ids: list[str] = []
        self.values: list[list[float]] = [[] for _ in range(columns)]
        self.keys: list[list[str | None]] = [[] for _ in range(keys)]
        self.labels: list[int] = []
        self.unknown = 0  # entries made by feedback whose event has not come yet (values NaN, keys None)

    def __len__(self) -> int:
        return len(self.times)

    def _insert(
        self, event_id: str, ts: int, values: Sequence[float], keys: Sequence[str | None], label: int
    ) -> int:
        at = bisect_right(self.times, ts)
        self.times.insert(at, ts)
        self.ids.insert(at, event_id)
        for i, column in enumerate(self.values):
            column.insert(at, values[i])
        for i, key_column in enumerate(self.keys):
            key_column.insert(at, keys[i])
        self.labels.insert(at, label)
        return at

    def _find(self, event_id: str) -> int | None:
        try:
            return self.ids.index(event_id)
        except ValueError:
            return None

    def observe(
        self, event_id: str, ts: int, values: Sequence[float], keys: Sequence[str] = ()
    ) -> tuple[int, bool]:
        """Add an event once; returns (its index, whether it was new). An entry that feedback made
        first gets the event's values and keys and keeps its label and time."""
        if len(values) != len(self.values) or len(keys) != len(self.keys):
            raise ValueError(
                f"{len(values)} values and {len(keys)} keys for a view that keeps {len(self.values)} and "
                f"{len(self.keys)} per event"
            )
        at = self._find(event_id)
        if at is None:
            return self._insert(event_id, ts, values, keys, UNLABELLED), True
        if self.unknown and self._unknown_at(at):
            for i, column in enumerate(self.values):
                column[at] = values[i]
            for i, key_column in enumerate(self.keys):
                key_column[at] = keys[i]
            self.unknown -= 1
        return at, False

    def _unknown_at(self, at: int) -> bool:
        """Whether entry `at` was made by feedback and its event has not come yet."""
        return math.isnan(self.values[0][at]) if self.values else self.keys[0][at] is None

    def _count_unknown(self) -> int:
        return (
            sum(map(math.isnan, self.values[0]))
            if self.values
            else self.keys[0].count(None)
            if self.keys
            else 0
        )

    def label(self, event_id: str, ts: int, target: bool) -> bool:
        """Record the feedback about an event (idempotent); True when the state changed."""
        verdict = int(target)
        at = self._find(event_id)
        if at is None:
            self._insert(event_id, ts, [_NAN] * len(self.values), [None] * len(self.keys), verdict)
            self.unknown += bool(self.values or self.keys)
            return True
        if self.labels[at] == verdict:
            return False
        self.labels[at] = verdict
        return True

    def rank(self, at: int) -> int:
        """How many entries of the same second come before entry `at` (arrival order within a second)."""
        return at - bisect_left(self.times, self.times[at])

    def aggregate(
        self, view: FeatureView, ts: int, current: int | None = None
    ) -> dict[str, float | list[str]]:
        """The view's features at event time `ts`; `current` is the index of the event being computed,
        left out of its windows unless the view includes the current event."""
        delay_s = view.delay_days * DAY_S
        hi = ts - delay_s
        end = bisect_right(self.times, hi)
        skip = None if view.include_current else current
        newest = end - 1 - (current == end - 1)  # the newest other event (times are sorted)
        out: dict[str, float | list[str]] = {}
        for window_s, aggs in view.plan:
            start = bisect_right(self.times, hi - window_s)
            count = end - start - (skip is not None and start <= skip < end)
            for name, function, column, n in aggs:
                if function == "count":
                    out[name] = float(count)
                elif function == "since_last":
                    out[name] = float(ts - self.times[newest] if newest >= start else window_s + delay_s)
                elif function == "share":
                    out[name] = _window(self.labels, start, end, skip).count(1) / count if count else 0.0
                elif function == "distinct":
                    out[name] = float(len(set(_window(self.keys[column], start, end, skip)) - {None, ""}))
                elif function == "last":
                    out[name] = _latest(self.keys[column], start, end, skip, n)
                else:
                    numbers = _window(self.values[column], start, end, skip)
                    if self.unknown:
                        numbers = [v for v in numbers if not math.isnan(v)]
                    total = float(sum(numbers))
                    if function == "sum":
                        out[name] = total
                    else:
                        out[name] = total / len(numbers) if numbers else 0.0
        return out

    def prune(self, horizon: int) -> None:
        """Drop the entries at or before `horizon` (no window of a later event reaches them)."""
        cut = bisect_right(self.times, horizon)
        if not cut:
            return
        del self.times[:cut], self.ids[:cut], self.labels[:cut]
        for column in self.values:
            del column[:cut]
        for key_column in self.keys:
            del key_column[:cut]
        if self.unknown:
            self.unknown = self._count_unknown()

    def dump(self) -> list[Any]:
        """The state in JSON's terms (a changelog record's value; unknown values as null; the key
        columns last, only for a view that has them, so a record of a view without keeps its form)."""
        values: list[list[float | None]] | list[list[float]] = self.values
        if self.unknown:
            values = [[None if math.isnan(v) else v for v in column] for column in self.values]
        stored: list[Any] = [self.times, self.ids, values, self.labels]
        return [*stored, self.keys] if self.keys else stored

    @classmethod
    def load(cls, stored: Sequence[Any] | None, columns: int, keys: int = 0) -> EntityWindows:
        """The state from `dump()`'s form (as JSON gives it back); empty for None."""
        state = cls(columns, keys)
        if stored:
            times, ids, values, labels, *key_columns = stored
            state.times, state.ids = [int(t) for t in times], [str(i) for i in ids]
            state.labels = [int(v) for v in labels]
            state.values = [[_NAN if v is None else float(v) for v in column] for column in values]
            state.keys = [
                [None if k is None else str(k) for k in column] for column in (key_columns or [[]])[0]
            ]
            if len(state.values) != columns or any(len(c) != len(state.times) for c in state.values):
                raise ValueError(f"stored window state has {len(state.values)} value columns, not {columns}")
            if len(state.keys) != keys or any(len(c) != len(state.times) for c in state.keys):
                raise ValueError(f"stored window state has {len(state.keys)} key columns, not {keys}")
            state.unknown = state._count_unknown()
        return state


def _latest(keys: list[str | None], start: int, end: int, skip: int | None, n: int) -> list[str]:
    """The last n values of keys[start:end] without index `skip`, oldest first (None and "" left out)."""
    got: list[str] = []
    at = end - 1
    while at >= start and len(got) < n:
        value = keys[at]
        if value and at != skip:
            got.append(value)
        at -= 1
    got.reverse()
    return got


def _window(xs: list[Any], start: int, end: int, skip: int | None) -> list[Any]:
    """xs[start:end] without index `skip`."""
    if skip is None or not start <= skip < end:
        return xs[start:end]
    return xs[start:skip] + xs[skip + 1 : end]
