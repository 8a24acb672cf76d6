"""Per-partition offset order of what Faust delivers: a skipped range is read back and processed in place."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faust.types import TP, EventT

__all__ = ["Admitted", "Gap", "OffsetOrder", "Repeat"]

log = logging.getLogger(__name__)

Starts = Callable[[list[TP]], Awaitable[dict[TP, int]]]
Reader = Callable[[TP, int, int], Awaitable[list[EventT[Any]]]]
Highwater = Callable[[TP], Awaitable["int | None"]]
Handle = Callable[[list[EventT[Any]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Gap:
    """Offsets [start, end) of `tp` that Faust did not deliver before the event at `end`."""

    tp: TP
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Repeat:
    """An event at an offset already processed here (or committed before): a re-delivery."""

    event: EventT[Any]


@dataclass(slots=True)
class Admitted:
    """What to process, in order, and the re-deliveries to ack (after what is before them)."""

    ready: list[EventT[Any]] = field(default_factory=list)
    repeats: list[EventT[Any]] = field(default_factory=list)


class OffsetOrder:
    """Faust can skip part of a partition around a rebalance: records prefetched before the
    recovery's seek go on arriving, its read offset drops the range in between, and its commit then
    passes offsets never processed (measured here after a SIGKILL and restart: 5 to 576 offsets per
    partition). This tracks the next offset expected per partition, starting at the group's
    committed offset (the log start when there is none); an event past it reveals a gap, which is
    read from Kafka directly (`read`) and processed before that event. Events delivered before the
    tables are restored wait and are processed first once they are. A re-delivery (an offset before
    the expected one) is not processed again: processing is idempotent by tx_id only while the
    state is not past the event (measured: Faust re-delivered a range after a read-back had
    processed the partition to its end, and the customer windows, pruned 30 days behind, had lost
    the event's history); it is acked behind what came before it.

    A skipped range that runs to the partition's end has no later event to reveal it, and after a
    restart Faust has also left partitions undelivered with records waiting (labels partitions,
    seen here for minutes): `stalled` reads back what a partition that has not moved for a while
    holds past its expected offset.

    `admit` increfs what it returns, repeats included: the caller acks each event once its outputs
    (and those of every event before it) are durable; the caller processes under `lock`, which
    `stalled` takes too."""

    def __init__(
        self,
        starts: Starts,
        read: Reader,
        settled: Callable[[], bool] = lambda: False,
        topic: str = "",
        max_read: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.starts, self.read, self.topic = starts, read, topic
        self.settled = settled  # also restored: Faust's recovery is over (in case the signals crossed)
        self.max_read, self.clock = max_read, clock
        self.next: dict[TP, int] = {}
        self.moved: dict[TP, float] = {}  # when Faust last delivered on tp (or it was assigned/read back)
        self.delivered = clock()  # when Faust last delivered anything to this agent (or assigned)
        self.restored = False  # the tables are restored since the last assignment
        self.pending: list[EventT[Any]] = []  # delivered before that
        self.lock = asyncio.Lock()

    def assigned(self, kept: Iterable[TP]) -> None:
        """A new assignment: expectations of partitions that moved start again, the tables are to be
        restored, and waiting events are dropped (the partition's next event reveals them as a gap)."""
        keep = set(kept)
        self.next = {tp: n for tp, n in self.next.items() if tp in keep}
        now = self.clock()
        self.moved = {tp: now for tp in keep if tp.topic == self.topic}
        self.delivered = now
        self.restored = False
        for event in self.pending:
            event.message.decref()
        self.pending.clear()

    def plan(self, events: Sequence[EventT[Any]]) -> list[EventT[Any] | Gap | Repeat]:
        """Pure bookkeeping: the events in processing order, each gap before the event revealing it,
        re-deliveries marked."""
        out: list[EventT[Any] | Gap | Repeat] = []
        if events:
            self.delivered = self.clock()
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            expected = self.next.get(tp)
            if expected is not None and offset > expected:
                out.append(Gap(tp, expected, offset))
            out.append(Repeat(event) if expected is not None and offset < expected else event)
            if expected is None or offset >= expected:
                self.next[tp] = offset + 1
            # any delivery, even of offsets already read back, shows Faust is moving on this partition:
            # counting only new offsets made every read-back that got ahead of a busy Faust look like
            # a stall 15 s later, and the partition was then read twice, end to end
            self.moved[tp] = self.clock()
        return out

    async def admit(self, events: Sequence[EventT[Any]]) -> Admitted:
        """The events to process now, in order, skipped ranges read back in their place; and the
        re-deliveries, not to be processed again."""
        admitted = await self._order(events)
        for event in (*admitted.ready, *admitted.repeats):
            event.message.incref()
        return admitted

    async def _order(self, events: Sequence[EventT[Any]]) -> Admitted:
        if not (self.restored or self.settled()):
            for event in events:
                event.message.incref()  # kept from the batch's ack until processed
            self.pending.extend(events)
            return Admitted()
        if self.pending:
            for event in self.pending:
                event.message.decref()
            events, self.pending = [*self.pending, *events], []
        new = sorted({e.message.tp for e in events} - set(self.next))
        if new:
            self.next.update(await self.starts(new))
        out = Admitted()
        for item in self.plan(events):
            if isinstance(item, Repeat):
                out.repeats.append(item.event)
            elif isinstance(item, Gap):
                log.warning(
                    "features: %s: Faust skipped offsets %d..%d (around a rebalance); reading them back",
                    item.tp,
                    item.start,
                    item.end - 1,
                )
                out.ready.extend(await self.read(item.tp, item.start, item.end))
            else:
                out.ready.append(item)
        return out

    def quiet(self, quiet_s: float, fetched: Callable[[TP], int | None] = lambda tp: None) -> list[TP]:
        """Assigned partitions Faust leaves alone: not moved for `quiet_s` while their records were
        fetched past the expected offset (`fetched`: the consumer's position) but not delivered, or
        while Faust delivered other partitions of this agent at least `quiet_s` after that. A Faust
        that has neither fetched nor delivered anything is slow, not skipping: the safety net is
        8 × `quiet_s` without any delivery. None before the tables are restored."""
        if not (self.restored or self.settled()):
            return []
        now, last = self.clock(), self.delivered
        silent = now - last >= 8 * quiet_s

        def skipped(tp: TP) -> bool:  # no expectation yet: anything fetched at all
            position = fetched(tp)
            return position is not None and position > self.next.get(tp, 0)

        return sorted(
            tp
            for tp, at in self.moved.items()
            if now - at >= quiet_s and (silent or last - at >= quiet_s or skipped(tp))
        )

    async def stalled(
        self,
        quiet_s: float,
        highwater: Highwater,
        handle: Handle,
        describe: Callable[[TP], str] = lambda tp: "",
        fetched: Callable[[TP], int | None] = lambda tp: None,
    ) -> None:
        """For each quiet partition whose high watermark is past its expected offset, read the range
        back (at most `max_read` offsets a call) and `handle` it under `lock`.
        Faust's delivery of the same records later, if it comes, is a re-delivery (`Repeat`)."""
        for tp in self.quiet(quiet_s, fetched):
            end = await highwater(tp)
            if end is None or end <= self.next.get(tp, -1):
                continue
            async with self.lock:  # the agent may have moved on while we waited
                if tp not in self.quiet(quiet_s, fetched):
                    continue
                if tp not in self.next:
                    self.next.update(await self.starts([tp]))
                start = self.next[tp]
                end = min(end, start + self.max_read)
                if end <= start:
                    continue
                log.warning(
                    "features: %s: nothing delivered for %.0f s though offsets %d..%d are there; "
                    "reading them back (%s)",
                    tp,
                    quiet_s,
                    start,
                    end - 1,
                    describe(tp),
                )
                events = await self.read(tp, start, end)
                self.next[tp], self.moved[tp] = end, self.clock()
                for event in events:
                    event.message.incref()
                await handle(events)
