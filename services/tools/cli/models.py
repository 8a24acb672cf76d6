"""`rtloop train`, `rtloop models list|publish`, `rtloop score`: the model side of the loop."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.tools.cli.app import app, console, friendly
from services.tools.cli.features import _when

if TYPE_CHECKING:
    from services.training.config import TrainSettings
    from services.training.job import Report

__all__ = ["models_app"]

models_app = typer.Typer(help="The model registry and the models topic.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def _train_settings() -> TrainSettings:
    from services.common.config import load_settings
    from services.training.config import TrainSettings

    return load_settings(TrainSettings)


def report_table(report: Report) -> Table:
    """Every candidate and production on the use case's metrics, its published baselines below."""
    judging = report.judging
    evaluation, names = judging.evaluation, list(judging.evaluation.metrics)
    gate = f"gate: {judging.gate_metric} + {judging.margin:g}"
    table = Table(title=f"candidates, ONNX scores on the same test rows ({gate})")
    for col in ("model", *names, "ONNX Δ", "fit s", "registered as"):
        table.add_column(col, justify="right" if col != "model" else "left")
    rows = [*report.outcomes, *([report.production_before] if report.production_before else [])]
    for o in rows:
        m = o.metrics
        cells = [f"{m[k]:.3f}" for k in names] if m else ["-"] * len(names)
        parity = f"{o.parity:.1e}" if o.parity is not None else "-"
        where = o.version.version if o.version else f"[red]{o.error}[/red]" if o.error else "-"
        table.add_row(o.title, *cells, parity, f"{o.seconds:.1f}", where)
    for name, figures in evaluation.baselines.items():
        cells = [f"{figures[k]:.3f}" if k in figures else "" for k in names]
        table.add_row(f"[dim]{name}[/dim]", *cells, "", "", "")
    return table


@app.command("train")
@friendly
def train_cmd(
    start: Annotated[
        str, typer.Option("--from", help="first training day (inclusive), ISO date")
    ] = "2018-07-25",
    end: Annotated[str, typer.Option("--to", help="end of training (exclusive), ISO date")] = "2018-08-01",
    protocol: Annotated[
        str | None,
        typer.Option(
            help="delayed, holdout, last_per_key or none (default: TRAIN_PROTOCOL, else the use case's)"
        ),
    ] = None,
) -> None:
    """Train the candidates on [from, to) from the features history, evaluate them as the protocol says
    (fraud's: the book's test week, D days later), register them, and promote + publish the best if it
    beats production's score on the same rows by the gate's margin."""
    from services.common.config import load_settings
    from services.features.config import FeaturesSettings
    from services.training.main import run_training

    s, fs = _train_settings(), load_settings(FeaturesSettings)
    if protocol is not None:
        if protocol not in ("delayed", "holdout", "last_per_key", "none"):
            raise typer.BadParameter("--protocol is delayed, holdout, last_per_key or none")
        s = s.model_copy(update={"protocol": protocol})
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("loading history…", total=None)
        report = run_training(
            s, fs, _when(start), _when(end), lambda text: bar.update(task, description=text)
        )
    console.print(report_table(report))
    if report.promoted:
        console.print(
            f"[green]{report.reason}[/green]: {report.promoted.version} published on {s.models_topic!r}"
        )
    else:
        console.print(f"[yellow]{report.reason}[/yellow]")


@models_app.command("list")
@friendly
def list_cmd() -> None:
    """Every registered version with its stage and its metrics on its test rows."""
    from services.common.evaluation import evaluation_for
    from services.common.registry import Registry

    s = _train_settings()
    reg = Registry(s.registry_root)
    names = list(evaluation_for(s.declaration).metrics)
    table = Table(title=f"{s.model_name} in {s.registry_root}")
    for col in ("version", "stage", *names, "threshold", "sha256"):
        table.add_column(col)
    production = reg.production(s.model_name)
    for v in reg.versions(s.model_name):
        card = reg.card(s.model_name, v)
        m = card.get("metrics", {})
        stage = "production" if v == production else card.get("stage", "?")
        cells = [f"{m.get(k, float('nan')):.3f}" for k in names]
        table.add_row(v, stage, *cells, f"{card['threshold']:.4f}", card["sha256"][:12])
    console.print(table)


@models_app.command("key")
@friendly
def key_cmd() -> None:
    """Make the model signing key file (MODEL_SIGNING_KEY_FILE) if it does not exist; never prints the key."""
    from services.common.signing import signing_key

    s = _train_settings()
    if s.model_signing_key is not None:
        console.print("MODEL_SIGNING_KEY is set: no file needed")
        return
    signing_key(None, s.model_signing_key_file, create=True)
    console.print(f"model signing key in {s.model_signing_key_file} (owner-only); give the scorers the same")


@models_app.command("publish")
@friendly
def publish_cmd(
    version: Annotated[str, typer.Argument(help="a registered version (rtloop models list)")],
    stage: Annotated[str, typer.Option(help="production or shadow")] = "production",
) -> None:
    """Publish a registered version on the models topic: scorers verify it and swap it in."""
    from services.common.registry import Registry
    from services.common.signing import signing_key
    from services.training.adapters.kafka_io import publish_version

    if stage not in {"production", "shadow"}:
        raise typer.BadParameter("--stage is production or shadow")
    s = _train_settings()
    key = signing_key(s.model_signing_key, s.model_signing_key_file, create=True)
    published = Registry(s.registry_root).set_stage(s.model_name, version, stage)
    publish_version(s.kafka, s.models_topic, published, key)
    console.print(f"[green]{published.name} {published.version} published as {stage}[/green]")


@app.command("score")
@friendly
def score_cmd(
    input_path: Annotated[Path, typer.Option("--input", help="Parquet file or Delta table with the inputs")],
    out: Annotated[Path | None, typer.Option(help="write predictions here (.parquet)")] = None,
    version: Annotated[str | None, typer.Option(help="registered version; default production")] = None,
) -> None:
    """Batch scoring with the scorer's core (same code as the stream)."""
    from services.common.registry import Registry, verify_model
    from services.scorer.adapters.onnx_runtime import load_model
    from services.scorer.batch import read_inputs, score_frame
    from services.scorer.transforms import request_fields

    s = _train_settings()
    reg = Registry(s.registry_root)
    chosen = version or reg.production(s.model_name)
    if chosen is None:
        raise typer.BadParameter(f"no production {s.model_name!r} in {s.registry_root}: run `rtloop train`")
    mv = Registry.version_of(reg.card(s.model_name, chosen))
    model = load_model(
        mv, verify_model(mv, s.declaration.feature_service.feature_names), ["CPUExecutionProvider"]
    )
    frame = read_inputs(input_path)
    with console.status(f"scoring {len(frame):,} rows with {chosen}…"):
        predictions = score_frame(frame, model, request_fields(s.declaration))
    if out is not None:
        predictions.assign(
            features=predictions["features"].map(str), latency_ms=predictions["latency_ms"].map(str)
        ).to_parquet(out, index=False)
    table = Table(title=f"{len(predictions):,} predictions by {model.info.name} {model.info.version}")
    for col in ("flagged", "mean score", "threshold", "left out: an input missing", "written to"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{int(predictions['decision'].sum()):,}",
        f"{predictions['score'].mean():.4f}",
        f"{model.info.threshold:.4f}",
        f"{len(frame) - len(predictions):,}",  # no shadow here: one prediction per row scored
        str(out or "-"),
    )
    console.print(table)
