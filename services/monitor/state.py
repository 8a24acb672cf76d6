"""The monitor's state and its changelog: the label join, the open window and the alert states, written
as compact per-batch records (in the same Kafka transaction as the batch's offsets and alerts) and
rebuilt from them after a restart.

Records (key → JSON value; None is a tombstone on the compacted topic):
- `b/<seq>`: the join changes of batch seq: predictions and early labels added, event ids joined, and the
  newest event time it touches; tombstoned once that is older than the TTL.
- `w/<window>/<seq>`: the rows batch seq added to the open window; tombstoned when the window closes.
- `n/<key>`: a ranking's next-event join: the key's newest event (id, event time); tombstoned once older
  than the TTL.
- `alerting`: the hysteresis of every alert kind, the window index and the batch sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.monitor.alerting import Alerting
from services.monitor.joins import Joined, Joins, Scored
from services.monitor.ranking import Interaction, NextEvents
from services.monitor.transforms import PredictionRow, Window

__all__ = ["Change", "MonitorState"]

Change = tuple[str, bytes | None]


@dataclass
class _Batch:
    """What one batch changed (becomes its records)."""

    added: list[Scored] = field(default_factory=list)
    early: list[tuple[str, bool | str, float]] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    newest: float = float("-inf")
    rows: list[PredictionRow] = field(default_factory=list)
    pairs: list[Joined] = field(default_factory=list)
    dead_letters: int = 0
    last: dict[str, tuple[str, float]] = field(default_factory=dict)  # next-event join: key → newest


class MonitorState:
    """Join + open window + alerting; `flush()` returns the changelog records of the batch."""

    def __init__(self, ttl_s: float, alerting: Alerting, most_joined: int = 2_000_000) -> None:
        self.joins, self.alerting = Joins(ttl_s, most_joined), alerting
        self.next_events = NextEvents(ttl_s)
        self.window = Window(0)
        self.seq = 0
        self._batch = _Batch()
        self._chunks: dict[int, float] = {}  # live b/<seq> records → newest event time they touch
        self._window_keys: list[str] = []
        self.summaries: dict[int, bytes] = {}  # h/<index>: closed windows for the page (history.py)

    # -- events ---------------------------------------------------------------------------------
    def prediction(self, row: PredictionRow) -> None:
        """A production prediction: into the open window and the join."""
        b = self._batch
        self.window.rows.append(row)
        b.rows.append(row)
        if row.scored.id in self.joins.early:
            b.joined.append(row.scored.id)
        joined = self.joins.prediction(row.scored)
        if joined is None and row.scored.id in self.joins.waiting:
            b.added.append(row.scored)
        self._joined(joined, row.scored.event_time)

    def interaction(self, event: Interaction) -> None:
        """An event of a ranking's stream: the answer to its key's previous request (a label), then the
        request that waits for the key's next event. A repeat (an event already read) changes nothing."""
        seen = self.next_events.last.get(event.key)
        if (
            (seen is not None and seen[0] == event.id)
            or event.id in self.joins.done
            or event.id in self.joins.early
        ):
            return
        answer = self.next_events.observe(event)
        self._batch.last[event.key] = (event.id, event.event_time)
        if answer is not None:
            self.label(*answer)

    def label(self, event_id: str, target: bool | str, event_time: float) -> None:
        """A label: joins its waiting prediction, or waits for it."""
        b = self._batch
        waiting = event_id in self.joins.waiting
        joined = self.joins.label(event_id, target, event_time)
        if waiting:
            b.joined.append(event_id)
        elif event_id in self.joins.early:
            b.early.append((event_id, target, event_time))
        self._joined(joined, event_time)

    def dead_letter(self) -> None:
        """A message on the dead-letter topic."""
        self.window.dead_letters += 1
        self._batch.dead_letters += 1

    def _joined(self, joined: Joined | None, event_time: float) -> None:
        b = self._batch
        b.newest = max(b.newest, event_time)
        if joined is not None:
            self.window.joined.append(joined)
            b.pairs.append(joined)

    # -- windows --------------------------------------------------------------------------------
    def open_at(self, start: float, end: float) -> None:
        """Give the open (still empty) event-time window its bounds."""
        self.window.start, self.window.end = start, end

    def close_window(
        self, start: float | None = None, end: float | None = None
    ) -> tuple[Window, list[Change]]:
        """End the open window (the caller checks it); its records become tombstones. The next one
        spans [start, end) for event-time windows."""
        closed, self.window = self.window, Window(self.window.index + 1, start, end)
        b = self._batch  # what this batch added so far belongs to the closed window
        b.rows, b.pairs, b.dead_letters = [], [], 0
        tombstones: list[Change] = [(k, None) for k in self._window_keys]
        self._window_keys = []
        return closed, tombstones

    # -- changelog ------------------------------------------------------------------------------
    def flush(self) -> list[Change]:
        """The records of the batch since the last flush (then expiry tombstones and `alerting`)."""
        b, self._batch = self._batch, _Batch()
        self.seq += 1
        out: list[Change] = []
        if b.added or b.early or b.joined:
            doc = {
                "p": [[*_scored(s), list(s.items)] for s in b.added],
                "l": [list(e) for e in b.early],
                "j": b.joined,
                "t": b.newest,
            }
            out.append((f"b/{self.seq}", orjson.dumps(doc)))
            self._chunks[self.seq] = b.newest
        if b.rows or b.pairs or b.dead_letters:
            key = f"w/{self.window.index}/{self.seq}"
            rows = [
                [
                    *_scored(r.scored),
                    list(r.inputs),
                    r.shadow,
                    r.end_to_end_ms,
                    r.scorer_ms,
                    list(r.scored.items),
                ]
                for r in b.rows
            ]
            pairs = [[*_scored(j.prediction), j.target, list(j.prediction.items)] for j in b.pairs]
            out.append((key, orjson.dumps({"r": rows, "j": pairs, "d": b.dead_letters})))
            self._window_keys.append(key)
        out += [(f"n/{key}", orjson.dumps(last)) for key, last in b.last.items()]
        out += [(f"n/{key}", None) for key in self.next_events.expire()]
        self.joins.expire()
        cutoff = self.joins.newest - self.joins.ttl_s
        for seq in [s for s, t in self._chunks.items() if t < cutoff]:
            del self._chunks[seq]
            out.append((f"b/{seq}", None))
        state = {
            "alerting": self.alerting.to_dict(),
            "window": self.window.index,
            "span": [self.window.start, self.window.end],
            "seq": self.seq,
            "newest": self.joins.newest,
            "expired": self.joins.expired,
        }
        out.append(("alerting", orjson.dumps(state)))
        return out

    def restore(self, records: dict[str, bytes]) -> None:
        """Rebuild from the changelog's live records (the latest value per key, tombstones dropped)."""
        meta = orjson.loads(records["alerting"]) if "alerting" in records else None
        self.summaries = {int(k[2:]): v for k, v in records.items() if k.startswith("h/")}
        if meta is not None:
            self.alerting.restore(meta["alerting"])
            self.seq, self.window = int(meta["seq"]), Window(int(meta["window"]), *meta.get("span", ()))
            self.joins.newest = float(meta["newest"])
        chunks = sorted((int(k[2:]), orjson.loads(v)) for k, v in records.items() if k.startswith("b/"))
        for seq, doc in chunks:
            self._chunks[seq] = float(doc["t"])
            for p in doc["p"]:  # records written before rankings were monitored have 5 fields
                self.joins.waiting[p[0]] = _unscored(p[:5], p[5] if len(p) > 5 else ())
            for event, target, t in doc["l"]:
                self.joins.early[event] = (target, t)
        for _seq, doc in chunks:  # joins after every add: a join may remove an entry of an older chunk
            for event in doc["j"]:
                self.joins.waiting.pop(event, None)
                self.joins.early.pop(event, None)
        self.next_events.restore(
            {
                k[2:]: (str(v[0]), float(v[1]))
                for k, v in ((k, orjson.loads(r)) for k, r in records.items())
                if k.startswith("n/")
            }
        )
        self.joins.reindex()
        self.joins.expire()  # entries already given up before the restart (their chunk lives on)
        self.joins.expired = int(meta["expired"]) if meta is not None else 0
        prefix = f"w/{self.window.index}/"
        for key in sorted(
            (k for k in records if k.startswith(prefix)), key=lambda k: int(k.rsplit("/", 1)[1])
        ):
            doc = orjson.loads(records[key])
            self._window_keys.append(key)
            self.window.rows += [  # rows written before the scorer's hop (rankings) was kept have 8 (9)
                PredictionRow(
                    _unscored(r[:5], r[9] if len(r) > 9 else ()),
                    tuple(r[5]),
                    r[6],
                    r[7],
                    r[8] if len(r) > 8 else None,
                )
                for r in doc["r"]
            ]
            self.window.joined += [
                Joined(_unscored(p[:5], p[6] if len(p) > 6 else ()), p[5]) for p in doc["j"]
            ]
            self.window.dead_letters += int(doc["d"])


def _scored(s: Scored) -> list[Any]:
    return [s.id, s.key, s.event_time, s.score, s.model_version]


def _unscored(v: list[Any], items: Any = ()) -> Scored:
    score = float(v[3]) if v[3] is not None else math.nan  # JSON has no NaN: a ranking without items
    return Scored(str(v[0]), str(v[1]), float(v[2]), score, str(v[4]), tuple(items))
