"""Log retention is aligned only on tables that have a first commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from pyspark.sql import SparkSession

from services.ingest.adapters.delta import align_log_retention


class _NoSpark:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Spark was used ({name}) for a table with no commit")


def test_a_table_killed_before_its_first_commit_is_left_to_the_session_defaults(tmp_path: Path) -> None:
    # SIGKILL between Delta making _delta_log and writing 00000.json leaves this behind; a restart
    # used to fail on it ("No files in log segment") and never came back
    killed = tmp_path / "transactions_rejected"
    (killed / "_delta_log").mkdir(parents=True)
    (killed / "_delta_log" / ".00000000000000000000.json.tmp").write_bytes(b"")
    never_made = tmp_path / "transactions"
    align_log_retention(cast(SparkSession, _NoSpark()), [never_made, killed], "3 days")
