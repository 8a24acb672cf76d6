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
    of one second in arrival order), as parallel lists: times, ids, one list per value column, labels
    (1 true, 0 false, -1 not known yet). An event counts once (by id); feedback about an event not
    seen yet is kept and counts that event from then on (its values are unknown until it comes).

    Lists of plain numbers and strings: the state of thousands of entities adds a few objects each
    for Python's cycle collector to walk, not one per event."""

    __slots__ = ("ids", "labels", "times", "unknown", "values")

    def __init__(self, columns: int) -> None:
        self.times: list[int] = []
        self.ids: list[str] = []
        self.values: list[list[float]] = [[] for _ in range(columns)]
        self.labels: list[int] = []
        self.unknown = 0  # entries made by feedback whose event has not come yet (values NaN)

    def __len__(self) -> int:
        return len(self.times)

    def _insert(self, event_id: str, ts: int, values: Sequence[float], label: int) -> int:
        at = bisect_right(self.times, ts)
        self.times.insert(at, ts)
        self.ids.insert(at, event_id)
        for i, column in enumerate(self.values):
            column.insert(at, values[i])
        self.labels.insert(at, label)
        return at

    def _find(self, event_id: str) -> int | None:
        try:
            return self.ids.index(event_id)
        except ValueError:
            return None

    def observe(self, event_id: str, ts: int, values: Sequence[float]) -> tuple[int, bool]:
        """Add an event once; returns (its index, whether it was new). An entry that feedback made
        first gets the event's values and keeps its label and time."""
        if len(values) != len(self.values):
            raise ValueError(f"{len(values)} values for a view that keeps {len(self.values)} per event")
        at = self._find(event_id)
        if at is None:
            return self._insert(event_id, ts, values, UNLABELLED), True
        if self.unknown and any(math.isnan(column[at]) for column in self.values):
            for i, column in enumerate(self.values):
                column[at] = values[i]
            self.unknown -= 1
        return at, False

    def label(self, event_id: str, ts: int, target: bool) -> bool:
        """Record the feedback about an event (idempotent); True when the state changed."""
        verdict = int(target)
        at = self._find(event_id)
        if at is None:
            self._insert(event_id, ts, [_NAN] * len(self.values), verdict)
            self.unknown += bool(self.values)
            return True
        if self.labels[at] == verdict:
            return False
        self.labels[at] = verdict
        return True

    def rank(self, at: int) -> int:
        """How many entries of the same second come before entry `at` (arrival order within a second)."""
        return at - bisect_left(self.times, self.times[at])

    def aggregate(self, view: FeatureView, ts: int, current: int | None = None) -> dict[str, float]:
        """The view's features at event time `ts`; `current` is the index of the event being computed,
        left out of its windows unless the view includes the current event."""
        delay_s = view.delay_days * DAY_S
        hi = ts - delay_s
        end = bisect_right(self.times, hi)
        skip = None if view.include_current else current
        newest = end - 1 - (current == end - 1)  # the newest other event (times are sorted)
        out: dict[str, float] = {}
        for window_s, aggs in view.plan:
            start = bisect_right(self.times, hi - window_s)
            count = end - start - (skip is not None and start <= skip < end)
            for name, function, column in aggs:
                if function == "count":
                    out[name] = float(count)
                elif function == "since_last":
                    out[name] = float(ts - self.times[newest] if newest >= start else window_s + delay_s)
                elif function == "share":
                    out[name] = _window(self.labels, start, end, skip).count(1) / count if count else 0.0
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
        if self.unknown:
            self.unknown = sum(map(math.isnan, self.values[0]))

    def dump(self) -> list[Any]:
        """The state in JSON's terms (a changelog record's value; unknown values as null)."""
        values: list[list[float | None]] | list[list[float]] = self.values
        if self.unknown:
            values = [[None if math.isnan(v) else v for v in column] for column in self.values]
        return [self.times, self.ids, values, self.labels]

    @classmethod
    def load(cls, stored: Sequence[Any] | None, columns: int) -> EntityWindows:
        """The state from `dump()`'s form (as JSON gives it back); empty for None."""
        state = cls(columns)
        if stored:
            times, ids, values, labels = stored
            state.times, state.ids = [int(t) for t in times], [str(i) for i in ids]
            state.labels = [int(v) for v in labels]
            state.values = [[_NAN if v is None else float(v) for v in column] for column in values]
            if len(state.values) != columns or any(len(c) != len(state.times) for c in state.values):
                raise ValueError(f"stored window state has {len(state.values)} value columns, not {columns}")
            state.unknown = sum(math.isnan(v) for column in state.values[:1] for v in column)
        return state


def _window(xs: list[Any], start: int, end: int, skip: int | None) -> list[Any]:
    """xs[start:end] without index `skip`."""
    if skip is None or not start <= skip < end:
        return xs[start:end]
    return xs[start:skip] + xs[skip + 1 : end]
