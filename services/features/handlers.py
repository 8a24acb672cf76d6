"""Per batch: update each view's window states in its table, compute every event's features, shape rows."""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import pyarrow as pa

from services.common.feature_services import ViewSpec
from services.common.usecase.views import DAY_S, EventFields, FeatureView, FeedbackFields
from services.features.windows import EntityWindows

__all__ = ["Computed", "FeatureEngine", "Features", "view_rows"]

Inputs = Callable[[Any, int], dict[str, float]]  # (event, event second) → the event's own inputs
Features = dict[str, float | list[str]]  # numbers, and lists of text (`last`)

# Where the sub-streams' event times live, in the last view's table (no entity key starts with NUL):
# restored with the states they pruned, so a restart cannot prune past a partition that has not
# delivered yet.
_STREAM_TIME_KEY = "\x00stream_time"  # [[clean partition, raw partition, ts], …]


@dataclass(frozen=True, slots=True)
class Computed:
    """One event with its features and where it came from; per view its entity key and row time."""

    event_id: str
    partition: int
    offset: int
    features: Features
    keys: tuple[str, ...]
    times: tuple[datetime, ...]  # the first view's: event time + same-second rank in microseconds
    repeat: bool = False  # a stream-keyed first view had this event already: it was emitted before


def _seconds(value: Any) -> int:
    return int(value.timestamp()) if isinstance(value, datetime) else int(value)


class FeatureEngine:
    """Computes the views' features event by event; reads and writes each entity's state once per
    batch in its view's table. The first view is keyed like the stream (its rows of one second are
    ordered by rank); every state is pruned only behind the slowest ordered sub-stream."""

    def __init__(
        self,
        views: Sequence[FeatureView],
        tables: Sequence[MutableMapping[str, Any]],
        fields: EventFields,
        feedback: FeedbackFields | None,
        lateness_days: int,
        inputs: Inputs | None = None,
        stream_keyed: bool = True,
    ) -> None:
        """`stream_keyed`: the first view is keyed like the stream, so an entity's events come in order
        (false for a view read from a repartition topic: its entities' events interleave)."""
        if len(views) != len(tables) or not views:
            raise ValueError("one table per view")
        self.views, self.tables, self.fields, self.feedback = tuple(views), tuple(tables), fields, feedback
        self.inputs, self.lateness_s, self.stream_keyed = inputs, lateness_days * DAY_S, stream_keyed
        self._entity = [attrgetter(v.entity) for v in self.views]
        self._columns = [[attrgetter(c) for c in v.columns] for v in self.views]
        self._keys = [[attrgetter(c) for c in v.key_columns] for v in self.views]
        self.stream_time: dict[tuple[int, int], int] = {}
        self._restored = False  # stream_time merged with the table's since the last assignment

    def assigned(self) -> None:
        """A new assignment: the stored event times are merged in again before the next batch (the
        tables are restored by then)."""
        self._restored = False

    def _restore_stream_time(self) -> None:
        for partition, source, ts in self.tables[-1].get(_STREAM_TIME_KEY) or ():
            stream = (partition, source)
            self.stream_time[stream] = max(self.stream_time.get(stream, ts), ts)
        self._restored = True

    def low_watermark(self) -> int | None:
        """The earliest latest-event-time over the ordered sub-streams seen (None before any).

        An entity's events can come from several sub-streams that advance unevenly: during a backlog
        one raw partition can be days of event time ahead of another, each clean partition
        interleaves several raw ones, and the clean partitions are consumed unevenly. Events are in
        order only within a (clean partition, raw `source_partition`) pair, so states are pruned
        only behind the slowest such pair. The times are stored: after a restart one partition can
        be delivered much later than the others (days of event time in a backlog), and a pair not
        seen yet must still hold pruning back."""
        return min(self.stream_time.values()) if self.stream_time else None

    def transactions(self, batch: Sequence[tuple[Any, int, int]]) -> list[Computed]:
        """Apply a batch of (event, partition, offset) in order; each event counts once (by id)."""
        if not self._restored:
            self._restore_stream_time()
        states: list[dict[str, EntityWindows]] = [{} for _ in self.views]
        out = []
        for event, partition, offset in batch:
            ts = _seconds(getattr(event, self.fields.time))
            event_id = str(getattr(event, self.fields.id))
            stream = (partition, int(getattr(event, "source_partition", 0)))
            self.stream_time[stream] = max(self.stream_time.get(stream, ts), ts)
            # numbers only, at first (a dict is invariant: no copy on the hot path to say so)
            features: Features = self.inputs(event, ts) if self.inputs else {}  # type: ignore[assignment]
            keys, rank, repeat = [], 0, False
            for i, view in enumerate(self.views):
                key = str(self._entity[i](event))
                state = self._state(states[i], i, key)
                at, new = state.observe(
                    event_id,
                    ts,
                    [float(get(event)) for get in self._columns[i]],
                    [_text(get(event)) for get in self._keys[i]],
                )
                features |= state.aggregate(view, ts, at)
                keys.append(key)
                if i == 0 and self.stream_keyed:
                    rank, repeat = state.rank(at), not new
            moment = datetime.fromtimestamp(ts, UTC)
            times = (moment + timedelta(microseconds=rank), *[moment] * (len(self.views) - 1))
            out.append(Computed(event_id, partition, offset, features, tuple(keys), times, repeat))
        self._store(states)
        if batch:  # durable with the states it pruned (one changelog flush)
            self.tables[-1][_STREAM_TIME_KEY] = [[p, sp, ts] for (p, sp), ts in self.stream_time.items()]
        return out

    def labels(self, labels: Sequence[Any]) -> int:
        """Apply feedback to the views that take it (once each); returns how many changed a state."""
        fb = self.feedback
        if fb is None:
            raise ValueError("feedback for a use case whose feedback is the next event (it has no labels)")
        states: list[dict[str, EntityWindows]] = [{} for _ in self.views]
        changed = 0
        for label in labels:
            event_id, ts = str(getattr(label, fb.id)), _seconds(getattr(label, fb.time))
            target = bool(getattr(label, fb.target))
            for i, view in enumerate(self.views):
                if view.takes_feedback:
                    state = self._state(states[i], i, str(self._entity[i](label)))
                    changed += state.label(event_id, ts, target)
        self._store(states, prune=False)
        return changed

    def _state(self, cache: dict[str, EntityWindows], i: int, key: str) -> EntityWindows:
        state = cache.get(key)
        if state is None:
            stored = self.tables[i].get(key)
            view = self.views[i]
            if not isinstance(stored, EntityWindows):
                stored = EntityWindows.load(stored, len(view.columns), len(view.key_columns))
            state = cache[key] = stored
        return state

    def _store(self, states: list[dict[str, EntityWindows]], prune: bool = True) -> None:
        """Write the touched states back, pruned: behind the slowest sub-stream, and for the first
        view (its entity's events come in order from one sub-stream) behind its own newest event."""
        low = self.low_watermark() if prune else None
        for i, (view, table) in enumerate(zip(self.views, self.tables, strict=True)):
            for key, state in states[i].items():
                if low is not None:
                    own = i == 0 and self.stream_keyed and len(state)
                    newest = max(low, state.times[-1]) if own else low
                    state.prune(newest - view.reach_s - self.lateness_s)
                table[key] = state


def _text(value: Any) -> str:
    """A key column's value as kept in the state ("" for an absent optional field: never counted)."""
    return "" if value is None else str(value)


def view_rows(
    computed: Sequence[Computed],
    view: int,
    spec: ViewSpec,
    id_column: str,
    created: datetime | None = None,
) -> pa.Table:
    """The offline rows of view number `view` (one per event), as `spec` stores them online. Columns:
    entity key, event id, row time, created, the numbers, the lists (of text), source."""
    ts_type = pa.timestamp("us", tz="UTC")
    now = created or datetime.fromtimestamp(time.time(), UTC)
    columns: dict[str, pa.Array] = {
        spec.join_key: pa.array([c.keys[view] for c in computed], pa.string()),
        id_column: pa.array([c.event_id for c in computed], pa.string()),
        "event_timestamp": pa.array([c.times[view] for c in computed], ts_type),
        "created": pa.array([now] * len(computed), ts_type),
    }
    for name in spec.features:
        columns[name] = pa.array([c.features[name] for c in computed], pa.float64())
    for name in spec.lists:
        columns[name] = pa.array([c.features[name] for c in computed], pa.list_(pa.string()))
    columns["source_partition"] = pa.array([c.partition for c in computed], pa.int32())
    columns["source_offset"] = pa.array([c.offset for c in computed], pa.int64())
    return pa.table(columns)
