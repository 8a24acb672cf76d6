"""Event-time alignment of transactions with the labels stream (the delayed terminal windows)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

__all__ = ["LabelGate"]

log = logging.getLogger(__name__)

# async (partitions) -> {partition: offset}: high watermarks; where the group resumes reading
Offsets = Callable[[list[int]], Awaitable[Mapping[int, int]]]


class LabelGate:
    """Holds a batch of transactions until the labels stream has reached their event time.

    A labels partition is "there" when a label later than t was applied from it, or when every
    message it holds has been applied (next offset ≥ its high watermark). Without this, a label
    the consumer has not fetched yet would be missing from a terminal window. A wait longer than
    `max_wait_s` is logged and counted, and the batch goes on. Where no label was applied yet, the
    partition's next offset is where the group resumes (`starts`): one read to its end before a
    restart is drained at once, not waited on.
    """

    def __init__(self, max_wait_s: float, highwaters: Offsets, starts: Offsets) -> None:
        self.max_wait_s, self._highwaters, self._starts = max_wait_s, highwaters, starts
        self.watermark: dict[int, float] = {}
        self.next_offset: dict[int, int] = {}
        self.partitions: set[int] = set()
        self.timeouts = 0
        self._changed = asyncio.Event()

    def assign(self, partitions: Iterable[int]) -> None:
        """The labels partitions this worker reads."""
        self.partitions = set(partitions)

    def observe(self, partition: int, offset: int, label_ts: float) -> None:
        """A label from `partition` at `offset` with event time `label_ts` was applied."""
        self.partitions.add(partition)
        self.watermark[partition] = max(self.watermark.get(partition, float("-inf")), label_ts)
        self.next_offset[partition] = max(self.next_offset.get(partition, 0), offset + 1)

    def notify(self) -> None:
        """Wake a waiting batch (after labels were applied)."""
        self._changed.set()

    def _behind(self, ts: float) -> list[int]:
        return sorted(p for p in self.partitions if self.watermark.get(p, float("-inf")) <= ts)

    async def wait_until(self, ts: float) -> float:
        """Return once every labels partition is past `ts` or drained; the seconds waited."""
        start = time.monotonic()
        while True:
            behind = self._behind(ts)
            unknown = [p for p in behind if p not in self.next_offset]
            if unknown:
                for p, offset in (await self._starts(unknown)).items():
                    self.next_offset.setdefault(p, offset)
            if behind:
                highs = await self._highwaters(behind)
                behind = [p for p in behind if self.next_offset.get(p, 0) < highs.get(p, 0)]
            if not behind:
                return time.monotonic() - start
            left = self.max_wait_s - (time.monotonic() - start)
            if left <= 0:
                self.timeouts += 1
                log.warning(
                    "features: labels partitions %s have not reached event time %.0f after %.1f s; "
                    "going on (terminal windows may miss labels: is the labels topic lagging?)",
                    behind,
                    ts,
                    self.max_wait_s,
                )
                return time.monotonic() - start
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.005))
