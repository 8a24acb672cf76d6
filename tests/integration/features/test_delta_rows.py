"""DeltaRows on a local Delta table: idempotent per source partition, small files compacted as it goes."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from services.features.adapters.delta_rows import DeltaRows

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _rows(partition: int, offsets: range) -> pa.Table:
    return pa.table(
        {
            "tx_id": pa.array([f"{partition}-{o}" for o in offsets], pa.string()),
            "source_partition": pa.array([partition] * len(offsets), pa.int32()),
            "source_offset": pa.array(list(offsets), pa.int64()),
        }
    )


def test_compaction_beside_appends_keeps_every_row_once_and_bounds_the_file_count(
    tmp_path: Path,
) -> None:
    path = tmp_path / "customer_features"
    rows = DeltaRows(path, "features-customer_features", compact_every=4)
    for batch in range(40):  # compaction rounds run in the background, beside these appends
        assert rows.append(_rows(batch % 2, range(batch * 10, batch * 10 + 10))) == 10
    rows.close()  # waits for the round under way
    table = DeltaTable(str(path))
    assert len(table.file_uris()) < 20  # 40 appends; a round merges whatever was committed before it
    history = [c["operation"] for c in table.history()]
    assert "OPTIMIZE" in history
    ids = table.to_pyarrow_table().column("tx_id").to_pylist()
    assert len(ids) == len(set(ids)) == 400
    assert table.transaction_version("features-customer_features-p0") == 389
    assert table.transaction_version("features-customer_features-p1") == 399


def test_a_batch_replayed_after_a_restart_is_not_written_twice(tmp_path: Path) -> None:
    path = tmp_path / "terminal_features"
    first = DeltaRows(path, "features-terminal_features", compact_every=2)
    for start in (0, 10, 20):
        first.append(_rows(3, range(start, start + 10)))
    restarted = DeltaRows(path, "features-terminal_features", compact_every=2)
    assert restarted.append(_rows(3, range(15, 35))) == 5  # 15..29 were committed before the crash
    ids = DeltaTable(str(path)).to_pyarrow_table().column("tx_id").to_pylist()
    assert sorted(ids) == sorted(f"3-{o}" for o in range(35))


def test_the_tables_keep_a_short_log_new_or_made_before(tmp_path: Path) -> None:
    new = DeltaRows(tmp_path / "new", "features-new", log_retention_s=180)
    new.append(_rows(0, range(5)))
    before = tmp_path / "before"  # a table written by an earlier version, Delta's 30-day default
    write_deltalake(str(before), _rows(0, range(5)))
    assert "delta.logRetentionDuration" not in DeltaTable(str(before)).metadata().configuration
    assert DeltaRows(before, "features-before", log_retention_s=180).append(_rows(0, range(10))) == 10
    for path in (tmp_path / "new", before):
        configuration = DeltaTable(str(path)).metadata().configuration
        assert configuration["delta.logRetentionDuration"] == "interval 180 seconds"
        assert configuration["delta.enableExpiredLogCleanup"] == "false"  # only DeltaRows' own round


@pytest.mark.slow
def test_appends_and_compaction_run_concurrently_for_three_times_the_log_retention(tmp_path: Path) -> None:
    """Checkpoints remove commit files older than the retention while compaction commits beside the
    appends: no writer may be left on a snapshot whose next commits are gone (it crashed so)."""
    path, retention_s = tmp_path / "customer_features", 15
    rows = DeltaRows(path, "features-customer_features", compact_every=5, log_retention_s=retention_s)
    offset, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < 3 * retention_s + 5:
            rows.append(_rows(offset % 2, range(offset, offset + 20)))
            offset += 20
            time.sleep(0.01)
    finally:
        rows.close()
    table = DeltaTable(str(path))
    ids = table.to_pyarrow_table().column("tx_id").to_pylist()
    assert len(ids) == len(set(ids)) == offset
    assert not (path / "_delta_log" / f"{0:020d}.json").exists()  # the retention removed old commits
    assert "OPTIMIZE" in [c["operation"] for c in table.history()]
