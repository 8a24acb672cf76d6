"""Lake maintenance with delta-rs: compact small files (optimize) and delete unreferenced ones (vacuum)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.usecase import UseCase

__all__ = ["TableReport", "lake_tables", "optimize", "rows_and_version", "vacuum"]


def lake_tables(declared: UseCase) -> list[str]:
    """The use case's Delta tables: ingest's events and rejected events, each view's feature rows."""
    table = declared.event.table
    return [table, f"{table}_rejected", *(view.table_name for view in declared.features.views)]


@dataclass(frozen=True)
class TableReport:
    """What a maintenance step did to one table."""

    table: str
    files_before: int
    files_after: int
    removed: int
    version: int


def _tables(lake: Path, names: list[str]) -> list[Path]:
    return [lake / n for n in names if (lake / n / "_delta_log").is_dir()]


def optimize(lake: Path, names: list[str], target_mb: int = 128) -> list[TableReport]:
    """Bin-pack small files of each table into files of about `target_mb`; rows are unchanged."""
    from deltalake import DeltaTable

    reports = []
    for path in _tables(lake, names):
        table = DeltaTable(str(path))
        before = len(table.file_uris())
        metrics = table.optimize.compact(target_size=target_mb * 1024 * 1024)
        table = DeltaTable(str(path))
        reports.append(
            TableReport(
                path.name,
                before,
                len(table.file_uris()),
                int(metrics.get("numFilesRemoved", 0)),
                table.version(),
            )
        )
    return reports


def vacuum(
    lake: Path, names: list[str], retention_hours: int = 168, dry_run: bool = False
) -> list[TableReport]:
    """Delete files no version newer than `retention_hours` references (default 7 days)."""
    from deltalake import DeltaTable

    reports = []
    for path in _tables(lake, names):
        table = DeltaTable(str(path))
        files = len(table.file_uris())
        removed = table.vacuum(
            retention_hours=retention_hours,
            dry_run=dry_run,
            enforce_retention_duration=retention_hours >= 168,
        )
        reports.append(TableReport(path.name, files, files, len(removed), table.version()))
    return reports


def rows_and_version(path: Path) -> tuple[int, int]:
    """(rows, version) of a Delta table; (0, -1) before its first commit."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(str(path))
    except TableNotFoundError:
        return 0, -1
    return table.to_pyarrow_dataset().count_rows(), table.version()
