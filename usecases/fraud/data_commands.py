"""`rtloop simulate` and `rtloop replay`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.common.errors import ConfigError
from services.tools.cli.app import app, console, friendly, parse_date, settings

__all__ = ["replay_cmd", "simulate_cmd"]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[cyan]{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.command("simulate")
@friendly
def simulate_cmd(
    days: Annotated[int, typer.Option(min=1)] = 183,
    customers: Annotated[int, typer.Option(min=1)] = 5000,
    terminals: Annotated[int, typer.Option(min=1)] = 10000,
    seed: int = 0,
    start_date: Annotated[str, typer.Option(help="YYYY-MM-DD")] = "2018-04-01",
    out: Annotated[Path | None, typer.Option(help="Delta table path")] = None,
    drift: Annotated[
        list[str] | None,
        typer.Option(
            help="amount:YYYY-MM-DD[:share:factor] or terminals:YYYY-MM-DD[:count:days] (repeatable)"
        ),
    ] = None,
) -> None:
    """Simulate the handbook's transactions (with fraud labels) into a Delta table."""
    import time

    from deltalake import write_deltalake

    from usecases.fraud.simulator import SimulationConfig, simulate
    from usecases.fraud.simulator.drift import parse_drift

    try:
        drifts = tuple(parse_drift(d) for d in drift or ())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    cfg = SimulationConfig(customers, terminals, days, parse_date(start_date), seed=seed, drifts=drifts)
    path = out or settings().simulated_table
    started = time.monotonic()
    with _progress() as bar:
        task = bar.add_task("simulating customers", total=customers, rate="")
        table = simulate(cfg, progress=lambda n: bar.advance(task, n))
    write_deltalake(str(path), table, mode="overwrite", schema_mode="overwrite")
    frauds = int(table.column("tx_fraud").to_numpy().sum())
    console.print(
        f"{table.num_rows:,} transactions, {frauds:,} frauds ({frauds / max(table.num_rows, 1):.4%}) "
        f"over {days} days in {time.monotonic() - started:.1f}s → {path}"
    )


@app.command("replay")
@friendly
def replay_cmd(
    from_: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option(help="last day (inclusive), YYYY-MM-DD")] = None,
    rate: Annotated[float | None, typer.Option(help="events per second")] = None,
    speed: Annotated[float | None, typer.Option(help="times event time")] = None,
    label_delay_days: Annotated[float, typer.Option(help="labels D days after the tx")] = 7.0,
    corrupt: Annotated[float, typer.Option(help="share of transactions to corrupt")] = 0.0,
    table: Annotated[Path | None, typer.Option(help="simulated Delta table")] = None,
    raw_topic: str = "transactions.raw",
    labels_topic: str = "labels",
) -> None:
    """Produce transactions in event-time order, each label D days later; as fast as possible
    unless --rate or --speed."""
    from services.common.kafka.clients import wait_reachable
    from usecases.fraud.replay import build_stream
    from usecases.fraud.replay.producer import ReplayOptions, replay
    from usecases.fraud.replay.source import read_window

    s = settings()
    wait_reachable(s.kafka)
    first = parse_date(from_) if from_ else None
    last = parse_date(to) if to else None
    data = read_window(table or s.simulated_table, first, last)
    stream = build_stream(data, label_delay_days)
    opts = ReplayOptions(raw_topic, labels_topic, rate, speed, corrupt)
    with _progress() as bar:
        task = bar.add_task("replaying events", total=len(stream.order), rate="")
        started = datetime.now(UTC)

        def advance(n: int) -> None:
            bar.advance(task, n)
            done = bar.tasks[task].completed
            secs = (datetime.now(UTC) - started).total_seconds() or 1e-9
            bar.update(task, rate=f"{done / secs:,.0f} ev/s")

        result = replay(s.kafka, stream, opts, progress=advance)
    summary = Table(title="replay", show_header=False)
    summary.add_row("transactions → " + raw_topic, f"{result.transactions:,}")
    summary.add_row("labels → " + labels_topic, f"{result.labels:,}")
    summary.add_row("corrupted", ", ".join(f"{k} {v}" for k, v in result.corrupted.items()) or "0")
    summary.add_row("failed deliveries", f"{result.failed:,}")
    summary.add_row("rate", f"{result.rate:,.0f} events/s in {result.seconds:.1f}s")
    console.print(summary)
    if result.failed:
        raise typer.Exit(2)
