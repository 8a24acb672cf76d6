"""Where computed features go before an event is emitted: the online store, then Delta."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import pyarrow as pa

from services.common.feast_online import ViewSpec
from services.common.feast_online_writers import OnlineWriter, WriteOp
from services.features.adapters.delta_rows import DeltaRows
from services.features.handlers import Computed, view_rows

__all__ = ["FeatureSinks", "Written", "waves"]

T = TypeVar("T")


@dataclass
class Written:
    """When each event's features became readable online, and (verify mode) what was read back."""

    online_at: list[float] = field(default_factory=list)
    read_back: list[dict[str, float | None] | None] = field(default_factory=list)
    waves: int = 0


class FeatureSinks:
    """Two stages, each called in order from its own worker: `online` writes rows in waves (each
    entity once per wave, so every event's own row is the online state right after its wave);
    `lake` appends the views' Delta tables in parallel. Both return once their writes are durable.
    `views` and `tables` are in the engine's view order; `id_column` names the event id in Delta."""

    def __init__(
        self,
        writer: OnlineWriter,
        views: Sequence[ViewSpec],
        tables: Sequence[DeltaRows],
        id_column: str,
        read_back: bool = False,
    ) -> None:
        self.writer, self.views, self.tables, self.read_back = writer, tuple(views), tuple(tables), read_back
        self.id_column = id_column
        self._pool = ThreadPoolExecutor(max_workers=max(len(self.tables), 1), thread_name_prefix="delta")

    def online(self, computed: Sequence[Computed]) -> Written:
        """All waves in one round trip (blocking; fast enough to call on the event loop)."""
        result = Written(online_at=[0.0] * len(computed), read_back=[None] * len(computed))
        index = {id(c): i for i, c in enumerate(computed)}
        views = list(enumerate(self.views))
        plan = waves(computed, *[lambda c, v=v: c.keys[v] for v in range(len(views))])
        ops: list[list[WriteOp]] = [
            [(spec, c.keys[v], c.features, c.times[v]) for v, spec in views for c in wave] for wave in plan
        ]
        seen = self.writer.write(ops, read_back=self.read_back)
        now = time.time()
        for w, wave in enumerate(plan):
            for j, c in enumerate(wave):
                i = index[id(c)]
                result.online_at[i] = now
                if self.read_back:
                    result.read_back[i] = _merged([seen[w][j + v * len(wave)] for v, _ in views])
        result.waves = len(plan)
        return result

    def lake_rows(self, computed: Sequence[Computed]) -> list[pa.Table]:
        """The rows of every table (Python-bound: build them on the event loop, not in a thread)."""
        return [view_rows(computed, v, spec, self.id_column) for v, spec in enumerate(self.views)]

    def lake(self, rows: Sequence[pa.Table]) -> int:
        """Blocking: append the tables in parallel (delta-rs releases the GIL); idempotent per
        source partition; returns the rows written."""
        futures = [self._pool.submit(t.append, r) for t, r in zip(self.tables, rows, strict=True)]
        return sum(f.result() for f in futures)

    def close(self) -> None:
        """Stop the Delta threads (a compaction under way included) and release the online store
        connection."""
        self._pool.shutdown(wait=True)
        for table in self.tables:
            table.close()
        self.writer.reader.close()


def _merged(rows: Sequence[dict[str, float | None] | None]) -> dict[str, float | None] | None:
    """One event's rows of every view as one vector; None when a view's row was not there."""
    out: dict[str, float | None] = {}
    for row in rows:
        if row is None:
            return None
        out |= row
    return out


def waves(items: Sequence[T], *keys: Callable[[T], Hashable]) -> list[list[T]]:
    """Split a batch into consecutive waves in which every key value appears at most once, keeping
    each key's order: after a wave is written, every item's own row is the online state."""
    last: dict[tuple[int, Hashable], int] = {}
    out: list[list[T]] = []
    for item in items:
        wave = 1 + max((last.get((i, k(item)), -1) for i, k in enumerate(keys)), default=-1)
        for i, k in enumerate(keys):
            last[(i, k(item))] = wave
        if wave == len(out):
            out.append([])
        out[wave].append(item)
    return out
