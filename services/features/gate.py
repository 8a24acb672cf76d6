"""The later stages' event-time gate: progress marks of the partitions a view waits on, held events.

Every process sends progress marks (partition, next offset, newest event time) of the labels and clean
partitions it reads to every partition of the later stages. A later stage holds an event until every
clean partition has reached the start of its delayed windows and, for a view that takes feedback, every
labels partition its time, or until each is read to where it ended when the event came; so a replay, or
a partition read ahead of the others, computes what live traffic would, and live traffic waits for no
label produced after its event came. A hold longer than `label_wait_s` is given up, logged and counted.
Held events are state too: one record each in the partition's table (and its changelog); where the
partitions ended when each came is not (after a restore, where they end then: a later end, never less)."""

from __future__ import annotations

import bisect
import logging
import time
from collections import deque
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.features.adapters.metrics import FeaturesMetrics

__all__ = ["HELD", "MARKS", "Gate", "Offsets", "StageTopics"]

log = logging.getLogger(__name__)

MARKS = "\x00marks"  # {"<labels partition>" | "c<clean partition>": [next offset, newest time or None]}
HELD = "\x00held/"  # + a sequence number in arrival order → the held record


class Offsets(Protocol):
    """What the gate and the marks need of the consumer."""

    def position(self, topic: str, partition: int) -> int | None:
        """The next offset this consumer hands out; None before it handed out any."""

    def start(self, topic: str, partition: int) -> int:
        """Where the group resumes the partition (a broker round trip)."""

    def high(self, topic: str, partition: int, assigned: bool) -> int:
        """The partition's end (the last fetch response's where `assigned`, else the broker's now)."""


@dataclass(frozen=True)
class StageTopics:
    """The topics of the stages: `inputs[i]` is view i's input (the clean topic for the first, its
    repartition topic for the others), `changelogs[i]` its state."""

    inputs: tuple[str, ...]
    changelogs: tuple[str, ...]
    labels: str
    features: str
    label_partitions: int
    input_partitions: tuple[int, ...]


Ends = dict[tuple[str, int], int]  # (topic, partition) → its end offset, read once per batch when needed


@dataclass
class Held:
    """A partition's held events: (event time, sequence number) in time order, the sequence numbers in
    arrival order (released ones skipped lazily) for the one that has waited longest, and the partition
    ends of the batch each came in."""

    by_time: list[tuple[float, int]] = field(default_factory=list)
    arrivals: deque[int] = field(default_factory=deque)
    gone: set[int] = field(default_factory=set)
    ends: dict[int, Ends] = field(default_factory=dict)
    next_seq: int = 0

    def add(self, ts: float, seq: int, ends: Ends) -> None:
        bisect.insort(self.by_time, (ts, seq))
        self.arrivals.append(seq)
        self.ends[seq] = ends
        self.next_seq = max(self.next_seq, seq + 1)

    def oldest(self) -> int | None:
        while self.arrivals and self.arrivals[0] in self.gone:
            self.gone.discard(self.arrivals.popleft())
        return self.arrivals[0] if self.arrivals else None

    def __len__(self) -> int:
        return len(self.by_time)


class Gate:
    """Marks and held events of the later stages' partitions; `delays[i]` is view i's delay (seconds),
    `feedback[i]` whether it waits for the labels; `assigned(topic, p)`: this process reads it."""

    def __init__(
        self,
        topics: StageTopics,
        delays: Sequence[float],
        feedback: Sequence[bool],
        assigned: Callable[[str, int], bool],
        *,
        label_wait_s: float,
        metrics: FeaturesMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topics, self.delays, self.feedback, self.assigned = (
            topics,
            list(delays),
            list(feedback),
            assigned,
        )
        self.label_wait_s, self.metrics, self.clock = label_wait_s, metrics, clock
        self.held: dict[tuple[int, int], Held] = {}
        self.offsets: Offsets | None = None
        self._ends: Ends = {}

    def batch(self) -> None:
        """A new batch: the partition ends are read again (at most once each per batch, when needed)."""
        self._ends = {}

    def loaded(self, stage: int, p: int, table: MutableMapping[str, Any]) -> None:
        """A partition's table restored: its held events are the ones to release."""
        held = self.held[(stage, p)] = Held()
        ends: Ends = {}  # where the partitions end when they are first needed
        for seq in sorted(int(k[len(HELD) :]) for k in table if k.startswith(HELD)):
            held.add(float(table[f"{HELD}{seq}"]["s"]), seq, ends)

    def dropped(self, stage: int, p: int) -> None:
        self.held.pop((stage, p), None)

    @staticmethod
    def mark(table: MutableMapping[str, Any], record: dict[str, Any]) -> None:
        """A progress mark: the partition's offset and newest time, never moving back."""
        marks = dict(table.get(MARKS) or {})
        old = marks.get(str(record["p"]), [-1, None])
        newest = max((t for t in (old[1], record["t"]) if t is not None), default=None)
        marks[str(record["p"])] = [max(old[0], int(record["o"])), newest]
        table[MARKS] = marks

    def hold(self, stage: int, p: int, table: MutableMapping[str, Any], record: dict[str, Any]) -> None:
        held = self.held[(stage, p)]
        seq = held.next_seq
        table[f"{HELD}{seq}"] = record | {"h": self.clock()}
        held.add(float(record["s"]), seq, self._ends)

    def release(self, stage: int, p: int, table: MutableMapping[str, Any]) -> list[dict[str, Any]]:
        """The held records whose inputs are in (or that waited too long), in event-time order: they
        came from several partitions, so arrival order is not time order. While none has waited
        `label_wait_s`, only the head of the time order is looked at (a later event waits for at
        least as much as an earlier one)."""
        held = self.held[(stage, p)]
        oldest = held.oldest()
        if oldest is None:
            return []
        now, marks = self.clock(), table.get(MARKS) or {}
        if now - float(table[f"{HELD}{oldest}"]["h"]) < self.label_wait_s:
            n = 0
            for ts, seq in held.by_time:
                if self._behind(stage, marks, ts, held.ends[seq]):
                    break
                n += 1
            going = held.by_time[:n]
            del held.by_time[:n]
        else:
            going = self._overdue(stage, held, marks, table, now)
        released, longest = [], 0.0
        for _ts, seq in going:
            record = table[f"{HELD}{seq}"]
            del table[f"{HELD}{seq}"]
            del held.ends[seq]
            held.gone.add(seq)
            longest = max(longest, now - float(record["h"]))
            released.append(record)
        if released:
            self.metrics.gate_wait.observe(longest)
        return released

    def _overdue(
        self, stage: int, held: Held, marks: dict[str, list[Any]], table: MutableMapping[str, Any], now: float
    ) -> list[tuple[float, int]]:
        """Every held event: the ones whose inputs are in and the ones that waited too long go."""
        going, kept, cutoff = [], [], None
        for ts, seq in held.by_time:
            behind = self._behind(stage, marks, ts, held.ends[seq]) if cutoff is None else cutoff
            waited = now - float(table[f"{HELD}{seq}"]["h"])
            if behind and waited < self.label_wait_s:
                cutoff = behind  # a later event waits for at least as much
                kept.append((ts, seq))
                continue
            if behind:
                self.metrics.gate_timeouts.inc()
                log.warning(
                    "features: %s not at event time %.0f after %.1f s; going on (windows may miss "
                    "events or labels: is a partition lagging?)",
                    behind,
                    ts,
                    waited,
                )
            going.append((ts, seq))
        held.by_time = kept
        return going

    def _behind(self, stage: int, marks: dict[str, list[Any]], ts: float, ends: Ends) -> str | None:
        """What an event at `ts` of `stage` still waits for, or None: every clean partition read to
        the start of the view's delayed windows (ts − delay) or to where it ended when the event came
        (`ends`), so a partition read ahead of the others cannot leave earlier events out of a window;
        and, for a view that takes feedback, every labels partition past `ts` (a label later than ts
        applied) or read to where it ended then."""
        clean = self.topics.inputs[0]
        for p in range(self.topics.input_partitions[0]):
            if not self._past(marks.get(f"c{p}"), ts - self.delays[stage], clean, p, ends):
                return f"{clean}[{p}]"
        if self.feedback[stage]:
            for p in range(self.topics.label_partitions):
                if not self._past(marks.get(str(p)), ts + 1e-6, self.topics.labels, p, ends):
                    return f"{self.topics.labels}[{p}]"
        return None

    def _past(self, mark: list[Any] | None, ts: float, topic: str, p: int, ends: Ends) -> bool:
        if mark is None:
            return False
        if mark[1] is not None and mark[1] >= ts:
            return True
        if (topic, p) not in ends and self.offsets is not None:
            # an event that came in an earlier batch and never needed this end takes today's: no less
            if (topic, p) not in self._ends:
                self._ends[(topic, p)] = self.offsets.high(topic, p, self.assigned(topic, p))
            ends[(topic, p)] = self._ends[(topic, p)]
        return bool(mark[0] >= ends.get((topic, p), mark[0] + 1))
