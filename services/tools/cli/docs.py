"""`rtloop docs reference [--check]`: the generated configuration and CLI reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.tools.cli.app import app, console, friendly
from services.tools.config import PROJECT_ROOT

__all__ = ["docs_app"]

docs_app = typer.Typer(help="Generated documentation.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")


@docs_app.command("reference")
@friendly
def reference_cmd(
    out: Annotated[Path, typer.Option(help="the page")] = PROJECT_ROOT / "docs" / "reference.md",
    check: Annotated[bool, typer.Option(help="only check; exit 1 when stale")] = False,
) -> None:
    """Write docs/reference.md from the settings classes and the CLI (or check it is current)."""
    from services.tools.deploy.reference import render, stale

    if check:
        if stale(out):
            console.print(f"[red]stale:[/red] {out}: run `rtloop docs reference` (or `make docs`)")
            raise typer.Exit(1)
        console.print("reference is current")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render())
    console.print(f"wrote {out}")
