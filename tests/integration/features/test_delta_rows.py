"""DeltaRows on a local Delta table: idempotent per source partition, small files compacted as it goes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from services.features.adapters.delta_rows import DeltaRows

pytestmark = pytest.mark.integration


def _rows(partition: int, offsets: range) -> pa.Table:
    return pa.table(
        {
            "tx_id": pa.array([f"{partition}-{o}" for o in offsets], pa.string()),
            "source_partition": pa.array([partition] * len(offsets), pa.int32()),
            "source_offset": pa.array(list(offsets), pa.int64()),
        }
    )


def test_compaction_keeps_every_row_once_and_bounds_the_file_count(tmp_path: Path) -> None:
    path = tmp_path / "customer_features"
    rows = DeltaRows(path, "features-customer_features", compact_every=4)
    for batch in range(10):
        assert rows.append(_rows(batch % 2, range(batch * 10, batch * 10 + 10))) == 10
    table = DeltaTable(str(path))
    assert len(table.file_uris()) <= 4  # 10 appends, compacted after the 4th and the 8th
    ids = table.to_pyarrow_table().column("tx_id").to_pylist()
    assert len(ids) == len(set(ids)) == 100
    assert table.transaction_version("features-customer_features-p0") == 89
    assert table.transaction_version("features-customer_features-p1") == 99


def test_a_batch_replayed_after_a_restart_is_not_written_twice(tmp_path: Path) -> None:
    path = tmp_path / "terminal_features"
    first = DeltaRows(path, "features-terminal_features", compact_every=2)
    for start in (0, 10, 20):
        first.append(_rows(3, range(start, start + 10)))
    restarted = DeltaRows(path, "features-terminal_features", compact_every=2)
    assert restarted.append(_rows(3, range(15, 35))) == 5  # 15..29 were committed before the crash
    ids = DeltaTable(str(path)).to_pyarrow_table().column("tx_id").to_pylist()
    assert sorted(ids) == sorted(f"3-{o}" for o in range(35))
