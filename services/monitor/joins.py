"""Label join: predictions wait for their labels (days later in event time), labels that come first
wait for their predictions; both are dropped once older than a TTL behind the newest event time."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Joined", "Joins", "Scored"]


@dataclass(frozen=True, slots=True)
class Scored:
    """What the monitor keeps of a production prediction."""

    tx_id: str
    customer_id: str
    event_time: float  # epoch seconds
    score: float
    model_version: str


@dataclass(frozen=True, slots=True)
class Joined:
    """A prediction with its label."""

    prediction: Scored
    is_fraud: bool


class Joins:
    """The join state. `expire()` forgets what is older than `ttl_s` behind the newest event time
    seen; a label for a transaction already joined is a repeat and is ignored."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self.waiting: dict[str, Scored] = {}
        self.early: dict[str, tuple[bool, float]] = {}  # labels before their prediction
        self.done: dict[str, float] = {}  # joined tx_id → event time (repeats are ignored)
        self.newest = float("-inf")
        self.expired = 0

    def prediction(self, p: Scored) -> Joined | None:
        """Add a prediction; the join if its label came first."""
        self.newest = max(self.newest, p.event_time)
        if p.tx_id in self.done or p.tx_id in self.waiting:
            return None
        label = self.early.pop(p.tx_id, None)
        if label is None:
            self.waiting[p.tx_id] = p
            return None
        self.done[p.tx_id] = p.event_time
        return Joined(p, label[0])

    def label(self, tx_id: str, is_fraud: bool, event_time: float) -> Joined | None:
        """Add a label (event_time: its transaction's); the join if the prediction is waiting."""
        if tx_id in self.done:
            return None
        p = self.waiting.pop(tx_id, None)
        if p is None:
            self.early[tx_id] = (is_fraud, event_time)
            return None
        self.done[tx_id] = p.event_time
        return Joined(p, is_fraud)

    def expire(self) -> int:
        """Drop entries older than the TTL; returns how many predictions left without a label."""
        cutoff = self.newest - self.ttl_s
        old = [k for k, p in self.waiting.items() if p.event_time < cutoff]
        for k in old:
            del self.waiting[k]
        for k in [k for k, (_, t) in self.early.items() if t < cutoff]:
            del self.early[k]
        for k in [k for k, t in self.done.items() if t < cutoff]:
            del self.done[k]
        self.expired += len(old)
        return len(old)

    def __len__(self) -> int:
        return len(self.waiting) + len(self.early) + len(self.done)
