"""Ids a consumer group has handled, per input partition, durable in a state topic in each transaction."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

import orjson

from services.common.kafka.envelope import Output

__all__ = ["SeenIds"]

log = logging.getLogger(__name__)

Records = Callable[[str, int], Sequence[tuple[str, bytes | None]]]


class SeenIds:
    """Which ids of an input partition the group already answered, so a copy gets no second answer.

    Each batch's new ids of input partition p are one record of `topic`'s partition p (value: when,
    and the ids), which the handler returns with its outputs: the runner's transaction commits them
    with the outputs and the input offsets, so the state is exactly what was published. The process
    that owns p next (after a restart, a scale step or a rollout) reads partition p back before it
    consumes p. Copies of an event share its key, hence its input partition, so the state of one
    partition is all one owner needs.

    The window: an id is remembered `window_s` of wall-clock time after it was answered (the state
    topic's retention is that too), and at most `per_partition` ids per partition, the oldest
    forgotten first. A copy that comes after its id was forgotten is answered again; `span_s()` says
    how far back the memory reaches now."""

    def __init__(
        self,
        topic: str,
        records: Records,
        *,
        window_s: float,
        per_partition: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topic, self._records, self.window_s, self.per_partition = topic, records, window_s, per_partition
        self._clock = clock
        self._seen: dict[int, _Partition] = {}
        self._pending: dict[int, list[str]] = {}  # answered in the transaction in flight
        self._pending_ids: set[tuple[int, str]] = set()
        self.forgotten_early = 0  # ids dropped by the per-partition bound before their window ended

    # -- assignment ------------------------------------------------------------------------------
    def assigned(self, partitions: Iterable[int]) -> None:
        """Read the state of new partitions back (before any of their input is handled)."""
        for p in partitions:
            started, now = time.monotonic(), self._clock()
            state = self._seen[p] = _Partition()
            for _key, value in self._records(self.topic, p):
                if value is not None:
                    doc = orjson.loads(value)
                    if doc["at"] >= now - self.window_s:
                        state.add(doc["at"], doc["ids"])
            self._trim(p, now)
            took = time.monotonic() - started
            log.info("%s[%d]: %d ids read back in %.1f s", self.topic, p, len(state.ids), took)

    def revoked(self, partitions: Iterable[int]) -> None:
        """Partitions going away (the runner settled their transaction first)."""
        for p in partitions:
            self._seen.pop(p, None)

    # -- one batch -------------------------------------------------------------------------------
    def known(self, partition: int, event_id: str) -> bool:
        """True for an id already answered (committed, or in the transaction in flight)."""
        state = self._seen.get(partition)
        return (state is not None and event_id in state.ids) or (partition, event_id) in self._pending_ids

    def answered(self, partition: int, first_offset: int, ids: Sequence[str]) -> Output:
        """Remember ids as answered in the transaction in flight; the state record to publish in it."""
        self._pending.setdefault(partition, []).extend(ids)
        self._pending_ids.update((partition, i) for i in ids)
        value = orjson.dumps({"at": self._clock(), "ids": list(ids)})
        return Output(self.topic, value, str(first_offset).encode(), partition=partition)

    def committed(self) -> None:
        """The transaction committed: its ids are state now."""
        now = self._clock()
        for p, ids in self._pending.items():
            self._seen.setdefault(p, _Partition()).add(now, ids)
            self._trim(p, now)
        self.aborted()

    def aborted(self) -> None:
        """The transaction aborted: its ids were not answered (the batch comes again)."""
        self._pending, self._pending_ids = {}, set()

    # -- the window ------------------------------------------------------------------------------
    def _trim(self, partition: int, now: float) -> None:
        state = self._seen[partition]
        state.drop(lambda at, _n: at < now - self.window_s)
        over = state.drop(lambda _at, n: n > self.per_partition)
        if over:
            state.cut = True
            self.forgotten_early += over
            log.warning(
                "%s[%d]: over %d ids within %g s: the oldest are forgotten early (raise the bound)",
                self.topic,
                partition,
                self.per_partition,
                self.window_s,
            )

    def size(self) -> int:
        """Ids remembered now, over every owned partition."""
        return sum(len(state.ids) for state in self._seen.values())

    def span_s(self) -> float:
        """How far back the memory reaches now: the window, or less where the bound cut it."""
        now = self._clock()
        cut = [now - s.batches[0][0] for s in self._seen.values() if s.batches and s.cut]
        return min([self.window_s, *cut])


class _Partition:
    """One partition's ids, and the batches they came in (oldest first: what expires goes first)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.batches: deque[tuple[float, list[str]]] = deque()
        self.cut = False  # the bound, not the window, dropped the oldest

    def add(self, at: float, ids: list[str]) -> None:
        self.ids.update(ids)
        self.batches.append((at, ids))

    def drop(self, expired: Callable[[float, int], bool]) -> int:
        """Drop the oldest batches while `expired(their time, ids held)`; how many ids went."""
        dropped = 0
        while self.batches and expired(self.batches[0][0], len(self.ids)):
            _at, ids = self.batches.popleft()
            self.ids.difference_update(ids)
            dropped += len(ids)
        return dropped
