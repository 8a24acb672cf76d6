"""`rtloop lake optimize|vacuum`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from services.tools.cli.app import app, console, friendly, settings

__all__ = ["lake_app"]

lake_app = typer.Typer(help="Delta Lake maintenance of the lake's tables.", no_args_is_help=True)
app.add_typer(lake_app, name="lake")


def _show(title: str, reports: list) -> None:  # type: ignore[type-arg]
    table = Table(title=title)
    for col in ("table", "files before", "files after", "files removed", "version"):
        table.add_column(col, justify="right" if col != "table" else "left")
    for r in reports:
        table.add_row(r.table, str(r.files_before), str(r.files_after), str(r.removed), str(r.version))
    console.print(table if reports else f"{title}: no Delta tables under {settings().lake_root}")


@lake_app.command("optimize")
@friendly
def optimize_cmd(
    table: Annotated[
        list[str] | None, typer.Option(help="table name (repeatable); default: the use case's")
    ] = None,
    target_mb: Annotated[int, typer.Option(min=1, help="target file size")] = 128,
) -> None:
    """Compact small files (streaming writes many) into large ones."""
    from services.tools.ops.lake import lake_tables, optimize

    s = settings()
    _show("optimize", optimize(s.lake_root, table or lake_tables(s.declaration), target_mb))


@lake_app.command("vacuum")
@friendly
def vacuum_cmd(
    table: Annotated[
        list[str] | None, typer.Option(help="table name (repeatable); default: the use case's")
    ] = None,
    retention_hours: Annotated[int, typer.Option(min=0, help="keep files newer versions need")] = 168,
    dry_run: Annotated[bool, typer.Option(help="only list what would go")] = False,
) -> None:
    """Delete files no longer referenced by versions within the retention."""
    from services.tools.ops.lake import lake_tables, vacuum

    s = settings()
    _show(
        "vacuum (dry run)" if dry_run else "vacuum",
        vacuum(s.lake_root, table or lake_tables(s.declaration), retention_hours, dry_run),
    )
