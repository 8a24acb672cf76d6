"""The lake's Delta tables, written idempotently per streaming batch (txnAppId / txnVersion)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

__all__ = ["RETENTION_PROPERTIES", "LakeWriter", "align_log_retention", "writer_identity"]

log = logging.getLogger(__name__)


def writer_identity(checkpoint: Path) -> str:
    """A stable id per checkpoint: a new checkpoint gets a new id, so Delta never mistakes its
    batch 0 for an old, already written batch 0 and skips it."""
    path = checkpoint / "delta-writer-id"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"rtloop-ingest-{uuid.uuid4().hex}")
    return path.read_text().strip()


RETENTION_PROPERTIES = ("delta.logRetentionDuration", "delta.deletedFileRetentionDuration")


def align_log_retention(spark: SparkSession, tables: list[Path], retention: str) -> None:
    """Set the log retention (and the deleted files' retention, which Delta requires to be no longer)
    on existing tables where they differ: one metadata commit; tables made later get them from the
    session's defaults. Log files older than this go at the next checkpoint (every 10 commits)."""
    from deltalake import DeltaTable  # reads the log only; no JVM work where nothing changes

    wanted = f"interval {retention}"
    for path in tables:
        if not DeltaTable.is_deltatable(str(path)):
            continue  # not made yet, or killed before its first commit: the session's defaults apply
        current = DeltaTable(str(path)).metadata().configuration
        if all(current.get(k) == wanted for k in RETENTION_PROPERTIES):
            continue
        log.info("ingest: %s keeps %s of Delta log and removed files from now on", path.name, retention)
        props = ", ".join(f"'{k}' = '{wanted}'" for k in RETENTION_PROPERTIES)
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({props})")


class LakeWriter:
    """foreachBatch target: valid rows to the events' table, rejected rows to the rejected events' table.

    Each table is written with Delta's idempotent options (txnAppId, txnVersion = batch id), so a
    batch replayed after a crash is skipped by Delta instead of appended twice.
    """

    def __init__(self, events: Path, rejected: Path, app_id: str) -> None:
        self.events, self.rejected, self.app_id = events, rejected, app_id

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        batch.persist()
        try:
            valid = batch.filter(F.col("kind") == "valid").select("tx.*")
            bad = batch.filter(F.col("kind") == "rejected").select("rejected.*")
            self._append(valid, self.events, batch_id, ["event_date"])
            self._append(bad, self.rejected, batch_id, [])
        finally:
            batch.unpersist()

    def _append(self, df: DataFrame, path: Path, batch_id: int, parts: list[str]) -> None:
        if df.isEmpty():
            return
        writer = (
            df.write.format("delta")
            .mode("append")
            .option("txnAppId", f"{self.app_id}-{path.name}")
            .option("txnVersion", batch_id)
        )
        if parts:
            writer = writer.partitionBy(*parts)
        writer.save(str(path))
        log.debug("batch %d → %s", batch_id, path.name)
