"""`rtloop features apply|history`: the Feast repository and training sets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:
    from services.features.config import FeaturesSettings

from services.tools.cli.app import app, console, friendly

__all__ = ["features_app"]

features_app = typer.Typer(
    help="Feast repository and training sets of the features service.", no_args_is_help=True
)
app.add_typer(features_app, name="features")


def _settings() -> FeaturesSettings:
    from services.common.config import load_settings
    from services.features.config import FeaturesSettings

    return load_settings(FeaturesSettings)


@features_app.command("apply")
@friendly
def apply_cmd() -> None:
    """Render infra/feast/feature_store.yaml from settings and register the definitions."""
    from services.common.feast.repo import apply, online_store_config, render_yaml

    s = _settings()
    path = render_yaml(s)
    with console.status("feast apply…"):
        apply(s)
    kind = online_store_config(s)["type"]
    console.print(f"[green]Feast project {s.feast_project!r} applied[/] ({kind} online store); config {path}")


def _when(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (2018-07-25 or 2018-07-25T12:00:00+00:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@features_app.command("history")
@friendly
def history_cmd(
    start: Annotated[str, typer.Option("--from", help="first event time (inclusive), ISO date")],
    end: Annotated[str, typer.Option("--to", help="last event time (exclusive), ISO date")],
    out: Annotated[Path | None, typer.Option(help="write the training set here (.parquet or .csv)")] = None,
) -> None:
    """The 15 model inputs of every transaction in [from, to) by Feast's point-in-time join."""
    from services.common.feast.history import training_set
    from services.common.feast.repo import apply

    s = _settings()
    with console.status("point-in-time join over the Delta tables…"):
        result = training_set(apply(s), s, _when(start), _when(end))
    if out is not None:
        if out.suffix == ".csv":
            result.frame.to_csv(out, index=False)
        else:
            result.frame.to_parquet(out, index=False)
    table = Table(title=f"training set {start} → {end}")
    for col in ("transactions", "with all 15 inputs", "without a feature row", "written to"):
        table.add_column(col, justify="right")
    table.add_row(
        str(result.transactions),
        str(result.transactions - result.missing),
        str(result.missing),
        str(out or "-"),
    )
    console.print(table)
