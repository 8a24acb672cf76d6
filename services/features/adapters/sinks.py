"""Where computed features go before an event is emitted: the online store, then Delta."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa

from services.common.feast_online import ViewSpec
from services.common.feast_online_writers import OnlineWriter, WriteOp
from services.features.adapters.delta_rows import DeltaRows
from services.features.adapters.feast_repo import CUSTOMER_VIEW, TERMINAL_VIEW
from services.features.handlers import Computed, customer_rows, terminal_rows
from services.features.transforms import CUSTOMER_FEATURES, TERMINAL_FEATURES, waves

__all__ = ["CUSTOMER_SPEC", "TERMINAL_SPEC", "FeatureSinks", "Written"]

CUSTOMER_SPEC = ViewSpec(CUSTOMER_VIEW, "customer_id", tuple(CUSTOMER_FEATURES))
TERMINAL_SPEC = ViewSpec(TERMINAL_VIEW, "terminal_id", tuple(TERMINAL_FEATURES))


@dataclass
class Written:
    """When each event's features became readable online, and (verify mode) what was read back."""

    online_at: list[float] = field(default_factory=list)
    read_back: list[dict[str, float | None] | None] = field(default_factory=list)
    waves: int = 0


class FeatureSinks:
    """Two stages, each called in order from its own worker: `online` writes rows in waves (each
    entity once per wave, so every event's own row is the online state right after its wave);
    `lake` appends both Delta tables in parallel. Both return once their writes are durable."""

    def __init__(
        self, writer: OnlineWriter, customers: DeltaRows, terminals: DeltaRows, read_back: bool = False
    ) -> None:
        self.writer, self.customers, self.terminals, self.read_back = writer, customers, terminals, read_back
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="delta")

    def online(self, computed: Sequence[Computed]) -> Written:
        """All waves in one round trip (blocking; fast enough to call on the event loop)."""
        result = Written(online_at=[0.0] * len(computed), read_back=[None] * len(computed))
        index = {id(c): i for i, c in enumerate(computed)}
        plan = waves(computed, lambda c: c.tx.customer_id, lambda c: c.tx.terminal_id)
        ops: list[list[WriteOp]] = []
        for wave in plan:
            ops.append(
                [(CUSTOMER_SPEC, c.tx.customer_id, c.features, c.customer_ts) for c in wave]
                + [(TERMINAL_SPEC, c.tx.terminal_id, c.features, c.terminal_ts) for c in wave]
            )
        seen = self.writer.write(ops, read_back=self.read_back)
        now = time.time()
        for w, wave in enumerate(plan):
            for j, c in enumerate(wave):
                i = index[id(c)]
                result.online_at[i] = now
                if self.read_back:
                    a, b = seen[w][j], seen[w][j + len(wave)]
                    result.read_back[i] = None if a is None or b is None else a | b
        result.waves = len(plan)
        return result

    def lake_rows(self, computed: Sequence[Computed]) -> tuple[pa.Table, pa.Table]:
        """The rows of both tables (Python-bound: build them on the event loop, not in a thread)."""
        return customer_rows(computed), terminal_rows(computed)

    def lake(self, rows: tuple[pa.Table, pa.Table]) -> int:
        """Blocking: append both tables in parallel (delta-rs releases the GIL); idempotent per
        source partition; returns the rows written."""
        futures = [
            self._pool.submit(self.customers.append, rows[0]),
            self._pool.submit(self.terminals.append, rows[1]),
        ]
        return sum(f.result() for f in futures)

    def close(self) -> None:
        """Stop the Delta threads (a compaction under way included) and release the online store
        connection."""
        self._pool.shutdown(wait=True)
        self.customers.close()
        self.terminals.close()
        self.writer.reader.close()
