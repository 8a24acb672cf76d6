"""Label join: predictions wait for their labels (days later in event time), labels that come first
wait for their predictions; both are dropped once older than a TTL behind the newest event time, and
the oldest first while the join holds more than its bound (memory stays bounded at any rate)."""

from __future__ import annotations

import heapq
from typing import Any, NamedTuple

__all__ = ["Joined", "Joins", "Scored"]


def _time(entry: Any) -> float:
    if isinstance(entry, Scored):
        return entry.event_time
    return float(entry[1]) if isinstance(entry, tuple) else float(entry)


class Scored(NamedTuple):
    """What the monitor keeps of a production prediction (a named tuple: built per message at half the
    cost of a frozen dataclass)."""

    id: str  # the event's id
    key: str  # the event's key (fraud: the card), for use-case metrics such as card precision
    event_time: float  # epoch seconds
    score: float  # a ranking's: its best item's
    model_version: str
    items: tuple[str, ...] = ()  # a ranking's items, best first


class Joined(NamedTuple):
    """A prediction with its label (a ranking's: the item that came next)."""

    prediction: Scored
    target: bool | str


class Joins:
    """The join state. `expire()` forgets what is older than `ttl_s` behind the newest event time
    seen, then the oldest entries while more than `most` are held (`evicted` counts the predictions
    that left that way, without a label); a label for an event already joined is a repeat and is
    ignored."""

    def __init__(self, ttl_s: float, most: int = 2_000_000) -> None:
        self.ttl_s, self.most = ttl_s, most
        self.evicted = 0
        self.waiting: dict[str, Scored] = {}
        self.early: dict[str, tuple[bool | str, float]] = {}  # labels before their prediction
        self.done: dict[str, float] = {}  # joined event_id → event time (repeats are ignored)
        self.newest = float("-inf")
        self.expired = 0
        # (event time, event_id) per store, oldest first: expiry pops instead of scanning every entry
        self._heaps: dict[str, list[tuple[float, str]]] = {"waiting": [], "early": [], "done": []}

    def reindex(self) -> None:
        """Rebuild the expiry order after the stores were filled directly (a restore)."""
        self._heaps["waiting"] = [(p.event_time, k) for k, p in self.waiting.items()]
        self._heaps["early"] = [(t, k) for k, (_, t) in self.early.items()]
        self._heaps["done"] = [(t, k) for k, t in self.done.items()]
        for heap in self._heaps.values():
            heapq.heapify(heap)

    def prediction(self, p: Scored) -> Joined | None:
        """Add a prediction; the join if its label came first."""
        self.newest = max(self.newest, p.event_time)
        if p.id in self.done or p.id in self.waiting:
            return None
        label = self.early.pop(p.id, None)
        if label is None:
            self.waiting[p.id] = p
            heapq.heappush(self._heaps["waiting"], (p.event_time, p.id))
            return None
        self._done(p.id, p.event_time)
        return Joined(p, label[0])

    def label(self, event_id: str, target: bool | str, event_time: float) -> Joined | None:
        """Add a label (event_time: its event's); the join if the prediction is waiting."""
        if event_id in self.done:
            return None
        p = self.waiting.pop(event_id, None)
        if p is None:
            self.early[event_id] = (target, event_time)
            heapq.heappush(self._heaps["early"], (event_time, event_id))
            return None
        self._done(event_id, p.event_time)
        return Joined(p, target)

    def _done(self, event_id: str, event_time: float) -> None:
        self.done[event_id] = event_time
        heapq.heappush(self._heaps["done"], (event_time, event_id))

    def expire(self) -> int:
        """Drop entries older than the TTL, then the oldest over the bound; returns how many
        predictions left without a label."""
        cutoff = self.newest - self.ttl_s
        dropped = 0
        for name in self._heaps:
            while self._heaps[name] and self._heaps[name][0][0] < cutoff:
                dropped += self._pop(name)
        self.expired += dropped
        over = 0
        while len(self) > self.most:
            over += self._pop(min((h[0][0], n) for n, h in self._heaps.items() if h)[1])
        self.evicted += over
        return dropped + over

    def _pop(self, name: str) -> int:
        """Forget the oldest entry of one store; 1 if it was a prediction still waiting."""
        stores: dict[str, dict[str, Any]] = {"waiting": self.waiting, "early": self.early, "done": self.done}
        store = stores[name]
        t, key = heapq.heappop(self._heaps[name])
        entry = store.get(key)
        if entry is not None and _time(entry) == t:  # not joined or re-added since
            del store[key]
            return int(name == "waiting")
        return 0

    def __len__(self) -> int:
        return len(self.waiting) + len(self.early) + len(self.done)
