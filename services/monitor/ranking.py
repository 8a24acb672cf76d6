"""A ranking model's monitoring (pure): recommendations and interactions as the monitor reads them, the
next-event join (each interaction answers its key's previous request with its item), a window's catalog
coverage, and how far the items interacted with are from training's shares."""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy.spatial import distance

from services.common.drift import ColumnDrift, Reference, drift
from services.common.errors import DecodeError
from services.common.kafka.decode import json_object
from services.common.ranking import recommended_popularity
from services.monitor.joins import Scored
from services.monitor.transforms import Popularity, PredictionFields, PredictionRow, Window, epoch, latencies

__all__ = [
    "INTERACTED",
    "Interaction",
    "InteractionFields",
    "NextEvents",
    "coverage",
    "parse_interaction",
    "parse_recommendation",
    "shares_drift",
    "window_popularity",
]

INTERACTED = "interacted_items"  # the popularity drift of the items interacted with, by their shares


class InteractionFields(NamedTuple):
    """Where an event holds its id, key, time and the field that answers a request (the item)."""

    id: str
    key: str
    time: str
    truth: str


class Interaction(NamedTuple):
    """An event as the next-event join reads it."""

    key: str
    id: str
    truth: str
    event_time: float


def parse_recommendation(raw: bytes, fields: PredictionFields) -> PredictionRow:
    """A Recommendation as a monitored row: its items best first, its best item's score (NaN without
    items), no inputs."""
    doc = json_object(raw)
    try:
        items = [(int(e["rank"]), str(e["item"]), float(e["score"])) for e in doc["items"]]
        items.sort()
        scored = Scored(
            str(doc[fields.id]),
            str(doc[fields.key]),
            epoch(doc[fields.time], fields.time),
            items[0][2] if items else math.nan,
            str(doc.get("model_version", "")),
            tuple(item for _, item, _ in items),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError("invalid_field", f"not a recommendation: {exc!r:.80}") from None
    return PredictionRow(scored, (), bool(doc.get("shadow")), *latencies(doc))


def parse_interaction(raw: bytes, fields: InteractionFields) -> Interaction:
    """An event's key, id, answer and event time (epoch s)."""
    doc = json_object(raw)
    try:
        return Interaction(
            str(doc[fields.key]),
            str(doc[fields.id]),
            str(doc[fields.truth]),
            epoch(doc[fields.time], fields.time),
        )
    except KeyError as exc:
        raise DecodeError("invalid_field", f"not an event: missing {exc}") from None


class NextEvents:
    """Per key, the newest event read (its id and event time): the key's next event answers it. A key
    idle for longer than `ttl_s` behind the newest event time is forgotten (`expire`)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self.last: dict[str, tuple[str, float]] = {}
        self.newest = float("-inf")
        self._heap: list[tuple[float, str]] = []

    def observe(self, event: Interaction) -> tuple[str, str, float] | None:
        """Record the key's newest event; the answer it gives (the previous event's id, this event's
        truth, the previous event's time), if the key had one. The caller drops repeats first."""
        previous = self.last.get(event.key)
        self.last[event.key] = (event.id, event.event_time)
        heapq.heappush(self._heap, (event.event_time, event.key))
        self.newest = max(self.newest, event.event_time)
        return None if previous is None else (previous[0], event.truth, previous[1])

    def restore(self, last: Mapping[str, tuple[str, float]]) -> None:
        """Start from these keys' newest events (a changelog's)."""
        self.last = dict(last)
        self._heap = [(t, k) for k, (_, t) in self.last.items()]
        heapq.heapify(self._heap)
        self.newest = max((t for t, _ in self._heap), default=float("-inf"))

    def expire(self) -> list[str]:
        """Forget the keys idle for longer than the TTL; the keys forgotten."""
        cutoff, gone = self.newest - self.ttl_s, []
        while self._heap and self._heap[0][0] < cutoff:
            t, key = heapq.heappop(self._heap)
            entry = self.last.get(key)
            if entry is not None and entry[1] == t:
                del self.last[key]
                gone.append(key)
        return gone


def coverage(lists: Sequence[Sequence[str]], catalog: int) -> float:
    """The share of the catalog's items recommended at least once."""
    return len({i for items in lists for i in items}) / catalog if catalog else 0.0


def shares_drift(items: Sequence[str], counts: Mapping[str, float], draws: int = 20) -> float:
    """How far the items interacted with are from training's shares: the Jensen-Shannon distance of
    their shares from training's (items unknown to training in one bucket), less the median distance of
    `draws` samples of the same size drawn from training's shares (what sampling alone gives; seeded by
    the size, so a window always scores the same). 0 for no items."""
    if not items or not counts:
        return 0.0
    index = {item: n for n, item in enumerate(counts)}
    expected = np.append(np.fromiter(counts.values(), np.float64, len(counts)), 0.0)
    expected /= expected.sum()
    got = np.bincount([index.get(i, len(counts)) for i in items], minlength=len(expected)).astype(np.float64)
    rng = np.random.default_rng(len(items))
    null = [
        distance.jensenshannon(expected, rng.multinomial(len(items), expected) / len(items))
        for _ in range(draws)
    ]
    return max(0.0, float(distance.jensenshannon(expected, got / len(items))) - float(np.median(null)))


def window_popularity(
    window: Window, reference: Reference, counts: Mapping[str, float], threshold: float
) -> Popularity:
    """A ranking window's popularity drifts: its lists' mean item popularity against the reference's, and
    the items its joined recommendations' users went to against training's shares (`INTERACTED`); and
    the catalog's share it recommended."""
    lists = [r.scored.items for r in window.rows]
    shares = shares_drift([str(j.target) for j in window.joined], counts)
    interacted = ColumnDrift(INTERACTED, shares, "jensenshannon", threshold, shares >= threshold)
    return Popularity(
        [*drift(reference, recommended_popularity(lists, counts)), interacted], coverage(lists, len(counts))
    )
