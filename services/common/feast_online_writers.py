"""Writes in Feast's online format (Redis or sqlite): all waves of a batch in one round trip."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from services.common.feast_online import (
    OnlineReader,
    RedisReader,
    SqliteReader,
    ViewSpec,
    decode_value,
    encode_value,
    open_reader,
)

__all__ = ["OnlineWriter", "WriteOp", "open_writer"]

# (view, entity id, feature values, event time); a write batch is a list of waves of these rows.
WriteOp = tuple[ViewSpec, str, dict[str, float], datetime]


class OnlineWriter(ABC):
    """Writes rows in Feast's online format, wave by wave in one round trip; optionally reads every
    wave's rows back right after that wave (what a reader saw at that moment)."""

    def __init__(self, reader: OnlineReader) -> None:
        self.reader = reader

    @abstractmethod
    def write(
        self, waves: Sequence[Sequence[WriteOp]], read_back: bool = False
    ) -> list[list[dict[str, float | None] | None]]:
        """Apply the waves in order; with read_back, each wave's rows as read after that wave."""


class RedisWriter(OnlineWriter):
    """HSET of the hashed feature fields and `_ts:<view>` per row, all waves in one pipeline
    (Redis runs a pipeline in order, so a read queued after a wave sees exactly that wave)."""

    reader: RedisReader

    def write(
        self, waves: Sequence[Sequence[WriteOp]], read_back: bool = False
    ) -> list[list[dict[str, float | None] | None]]:
        """One pipelined round trip for all waves (and their read-backs)."""
        r = self.reader
        project = r.project.encode()
        pipe = r.client.pipeline(transaction=False)
        reads: list[list[ViewSpec]] = []
        for wave in waves:
            for view, entity, values, ts in wave:
                fields = r._fields_of(view)
                mapping = {fields[i]: encode_value(values[f]) for i, f in enumerate(view.features)}
                stamp = Timestamp()
                stamp.FromDatetime(ts.astimezone(UTC))
                mapping[fields[-1]] = stamp.SerializeToString()
                pipe.hset(r.entity_key(view.join_key, entity) + project, mapping=mapping)
            if read_back:
                reads.append([op[0] for op in wave])
                for view, entity, _, _ in wave:
                    pipe.hmget(r.entity_key(view.join_key, entity) + project, r._fields_of(view))
        replies = pipe.execute()
        out: list[list[dict[str, float | None] | None]] = []
        if read_back:
            pos = 0
            for wave, views in zip(waves, reads, strict=True):
                pos += len(wave)
                got = replies[pos : pos + len(wave)]
                pos += len(wave)
                out.append(
                    [
                        None
                        if v[-1] is None
                        else dict(zip(view.features, map(decode_value, v), strict=False))
                        for view, v in zip(views, got, strict=True)
                    ]
                )
        return out


class SqliteWriter(OnlineWriter):
    """Feast's sqlite upsert, all waves in one transaction; read-backs inside it, after each wave."""

    reader: SqliteReader

    def write(
        self, waves: Sequence[Sequence[WriteOp]], read_back: bool = False
    ) -> list[list[dict[str, float | None] | None]]:
        """One transaction for all waves (and their read-backs)."""
        r, out = self.reader, []
        with r.conn:
            for wave in waves:
                rows = []
                for view, entity, values, ts in wave:
                    key = r.entity_key(view.join_key, entity)
                    naive = ts.astimezone(UTC).replace(tzinfo=None)
                    for f in view.features:
                        rows.append((view.name, key, f, encode_value(values[f]), str(values[f]), naive))
                for name in {row[0] for row in rows}:
                    r.conn.executemany(
                        f'INSERT INTO "{r.project}_{name}" '
                        "(entity_key, feature_name, value, value_text, event_ts, created_ts) "
                        "VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT(entity_key, feature_name) DO UPDATE SET "
                        "value = excluded.value, value_text = excluded.value_text, "
                        "event_ts = excluded.event_ts, created_ts = excluded.created_ts",
                        [row[1:] for row in rows if row[0] == name],
                    )
                if read_back:
                    got: list[dict[str, float | None] | None] = []
                    for view, entity, _, _ in wave:
                        got.extend(r.read(view, [entity]))
                    out.append(got)
        return out


def open_writer(online_store: dict[str, Any], project: str) -> OnlineWriter:
    """A writer for the online store block of a Feast repo config (type redis or sqlite)."""
    reader = open_reader(online_store, project)
    if isinstance(reader, RedisReader):
        return RedisWriter(reader)
    assert isinstance(reader, SqliteReader)
    return SqliteWriter(reader)
