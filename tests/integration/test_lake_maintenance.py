"""`rtloop lake optimize|vacuum` on a real Delta table: fewer files, same rows, idempotency kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from tests.kafka_helpers import ROOT


def test_optimize_compacts_and_vacuum_removes_what_no_version_needs(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    path = lake / "transactions"
    for batch in range(12):
        rows = pa.table({"tx_id": [f"{batch}-{i}" for i in range(50)], "amount": [1.0] * 50})
        write_deltalake(
            str(path),
            rows,
            mode="append",
            commit_properties=CommitProperties(app_transactions=[Transaction("ingest-writer", batch)]),
        )
    before = DeltaTable(str(path))
    assert len(before.file_uris()) == 12

    def run(*args: str) -> str:
        env = os.environ | {"RTLOOP_LAKE_ROOT": str(lake), "COLUMNS": "150"}
        return subprocess.run(
            [sys.executable, "-m", "services.tools.cli", "lake", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout

    out = run("optimize")
    assert "transactions" in out
    after = DeltaTable(str(path))
    assert len(after.file_uris()) == 1
    assert after.to_pyarrow_table().num_rows == 600
    assert after.transaction_version("ingest-writer") == 11, "idempotent-write markers survive"

    assert len(list(path.glob("*.parquet"))) == 13
    run("vacuum", "--retention-hours", "0")
    assert len(list(path.glob("*.parquet"))) == 1
    assert DeltaTable(str(path)).to_pyarrow_table().num_rows == 600
