"""Feature rows into Delta with delta-rs, idempotent per source partition (app transactions)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

__all__ = ["DeltaRows"]


class DeltaRows:
    """Appends rows that carry `source_partition` / `source_offset` of the event they came from.

    Each commit records, per source partition, the highest offset it contains as a Delta app
    transaction (`<app_id>-p<partition>`). Before writing, rows at or below the recorded offset are
    dropped, so a batch replayed after a crash never adds a row twice.
    """

    def __init__(self, path: Path, app_id: str) -> None:
        self.path, self.app_id = path, app_id
        self._done: dict[int, int] = {}
        self._table: DeltaTable | None = None

    def _app(self, partition: int) -> str:
        return f"{self.app_id}-p{partition}"

    def written_up_to(self, partition: int) -> int:
        """Highest source offset of `partition` already in the table (-1 if none); read from the
        table's log once per partition, then tracked here."""
        if partition not in self._done:
            if self._table is None and (self.path / "_delta_log").is_dir():
                self._table = DeltaTable(str(self.path))
            version = self._table.transaction_version(self._app(partition)) if self._table else None
            self._done[partition] = -1 if version is None else int(version)
        return self._done[partition]

    def append(self, rows: pa.Table) -> int:
        """Append the rows not yet written; returns how many were written."""
        if rows.num_rows == 0:
            return 0
        parts = rows.column("source_partition").to_pylist()
        offsets = rows.column("source_offset").to_pylist()
        keep = [off > self.written_up_to(p) for p, off in zip(parts, offsets, strict=True)]
        if not all(keep):
            rows = rows.filter(pa.array(keep))
        if rows.num_rows == 0:
            return 0
        highest: dict[int, int] = {}
        for p, off, k in zip(parts, offsets, keep, strict=True):
            if k:
                highest[p] = max(highest.get(p, -1), off)
        write_deltalake(
            self._table if self._table is not None else str(self.path),
            rows,
            mode="append",
            commit_properties=CommitProperties(
                app_transactions=[Transaction(self._app(p), v) for p, v in sorted(highest.items())]
            ),
        )
        self._done.update(highest)
        if self._table is None:
            self._table = DeltaTable(str(self.path))
        return int(rows.num_rows)
