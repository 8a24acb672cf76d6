"""Per-partition offset order of what Faust delivers: a skipped range is held back and re-read."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP, EventT

__all__ = ["OffsetOrder", "Split"]

log = logging.getLogger(__name__)


@dataclass
class Split:
    """A delivered batch split into events to process now and events held back (never acked:
    their re-delivery is processed instead); `seek` = partition → offset to read again from."""

    ready: list[EventT[Any]] = field(default_factory=list)
    held: list[EventT[Any]] = field(default_factory=list)
    seek: dict[TP, int] = field(default_factory=dict)


class OffsetOrder:
    """Faust can deliver events around a rebalance that skip part of a partition — prefetched
    before the recovery's seek, after which its read offset drops the range in between — and
    acking the later events would commit past events never processed (measured here: 35 per
    partition after a SIGKILL and restart; some never emitted). This tracks the next offset
    expected per partition, starting from the group's committed offset: events before the
    recovery finished, and every event of a partition from a jump past the expected offset on,
    are held back unprocessed and unacked, and the partition is sought back to the expected
    offset. Re-deliveries (offsets already seen) pass."""

    def __init__(
        self,
        committed: Callable[[list[TP]], Awaitable[dict[TP, int]]],
        reseek_s: float = 5.0,
        enabled: bool = True,
    ) -> None:
        self.committed = committed  # the group's committed offsets: where a partition starts
        self.enabled, self.reseek_s = enabled, reseek_s
        self.next: dict[TP, int] = {}
        self._sought: dict[TP, float] = {}  # partition → when it was last sought back

    def forget(self) -> None:
        """A new assignment: partitions may have moved, expectations start again."""
        self.next.clear()
        self._sought.clear()

    def split(self, events: Sequence[EventT[Any]], recovered: bool) -> Split:
        """Pure bookkeeping: which events are in order, which are held, where to seek."""
        out = Split()
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            expected = self.next.get(tp)
            if not recovered:
                self.next[tp] = offset if expected is None else min(expected, offset)
                out.held.append(event)
                continue
            if tp in out.seek or (expected is not None and offset > expected):
                out.seek.setdefault(tp, expected if expected is not None else offset)
                out.held.append(event)
                continue
            out.ready.append(event)
            if expected is None or offset >= expected:
                self.next[tp] = offset + 1
                self._sought.pop(tp, None)  # the re-read arrived
        return out

    async def admit(self, app: faust.App, events: Sequence[EventT[Any]]) -> list[EventT[Any]]:
        """The events to process now; the held ones are kept from being acked and their
        partitions are sought back so they are delivered again (disabled: all of them)."""
        if not self.enabled:
            return list(events)
        new = sorted({e.message.tp for e in events} - set(self.next))
        if new:  # a partition's first events: Faust may already have skipped past its start
            self.next.update(await self.committed(new))
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        split = self.split(events, recovery.completed.is_set() and not recovery.in_recovery)
        for event in split.held:
            event.message.incref()  # take_events' ack leaves it unacked; it is never committed
        for tp, offset in split.seek.items():
            if tp not in self._sought:
                log.warning(
                    "features: %s jumped past offset %d (Faust skipped events around a "
                    "rebalance); reading it again from there",
                    tp,
                    offset,
                )
            # again for every batch held: events prefetched past the gap keep arriving (and move
            # Faust's read offset) until the re-read does
            await self._seek(app, tp, offset)
        return split.ready

    async def _seek(self, app: faust.App, tp: TP, offset: int) -> None:
        self._sought[tp] = time.monotonic()
        await app.consumer.seek(tp, offset)

    async def reseek(self, app: faust.App) -> None:
        """Timer: a partition whose re-read has not come within reseek_s is sought again (no
        event may arrive at all once the prefetched ones are drained)."""
        now = time.monotonic()
        for tp, at in list(self._sought.items()):
            if now - at >= self.reseek_s and tp in self.next:
                log.info("features: %s re-read not there yet; seeking to %d again", tp, self.next[tp])
                await self._seek(app, tp, self.next[tp])
