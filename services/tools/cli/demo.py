"""`rtloop demo`: the whole foundation loop on the embedded default, with one summary."""

from __future__ import annotations

import signal
import time
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from services.tools.cli.app import app, console, friendly, settings

__all__ = ["demo_cmd"]


@app.command("demo")
@friendly
def demo_cmd(
    days: Annotated[int, typer.Option(min=1, help="days to simulate and replay")] = 7,
    corrupt: Annotated[float, typer.Option(help="share of corrupted transactions")] = 0.002,
    keep_broker: Annotated[bool, typer.Option(help="leave the broker running")] = False,
) -> None:
    """Start Kafka, simulate, replay through the echo runner, print counts and rates, stop."""
    from deltalake import write_deltalake

    from services.common.kafka.clients import make_admin
    from services.tools.broker import EmbeddedBroker
    from services.tools.demo import snapshot, start_echo, wait_drained
    from services.tools.offsets import end_offsets, start_group_at
    from services.tools.replay import build_stream
    from services.tools.replay.producer import ReplayOptions, replay
    from services.tools.simulator import SimulationConfig, simulate
    from services.tools.topics import apply_topics, load_topics

    s = settings()
    broker = None if s.kafka.external else EmbeddedBroker(s)
    t0 = time.monotonic()
    with console.status("starting Kafka…"):
        bootstrap = broker.start() if broker else s.kafka.bootstrap
    console.print(f"1/5 Kafka ready at {bootstrap} in {time.monotonic() - t0:.1f}s")
    apply_topics(make_admin(s.kafka), load_topics(s.topics_file))
    console.print("2/5 topics applied")
    t1 = time.monotonic()
    table = simulate(SimulationConfig(n_days=days, start_date=date(2018, 4, 1)))
    write_deltalake(str(s.simulated_table), table, mode="overwrite", schema_mode="overwrite")
    console.print(f"3/5 simulated {table.num_rows:,} transactions in {time.monotonic() - t1:.1f}s")
    topics = ["transactions.raw", "labels", "transactions.echo", "transactions.dlq"]
    before = snapshot(s, topics)
    group = f"rtloop-echo-demo-{int(time.time())}"
    start_group_at(s.kafka, group, "transactions.raw", end_offsets(s.kafka, "transactions.raw"))
    echo = start_echo(s, s.cache_dir / "logs" / "echo.log", ECHO_GROUP_ID=group)
    try:
        stream = build_stream(table)
        result = replay(s.kafka, stream, ReplayOptions(corrupt_share=corrupt))
        console.print(f"4/5 replayed {result.events:,} events at {result.rate:,.0f}/s")
        t2 = time.monotonic()
        wait_drained(s, group, "transactions.raw", echo)
        drained = time.monotonic() - t2
    finally:
        echo.send_signal(signal.SIGTERM)
        echo.wait(15)
    after = snapshot(s, topics)
    delta = {t: after[t] - before[t] for t in topics}
    console.print(f"5/5 echo drained in {drained:.1f}s after the replay ended")
    summary = Table(title="rtloop demo (foundation)")
    summary.add_column("what")
    summary.add_column("count", justify="right")
    summary.add_row("transactions → transactions.raw", f"{delta['transactions.raw']:,}")
    summary.add_row("labels → labels", f"{delta['labels']:,}")
    summary.add_row("echoed → transactions.echo", f"{delta['transactions.echo']:,}")
    summary.add_row("dead-lettered → transactions.dlq", f"{delta['transactions.dlq']:,}")
    summary.add_row("corrupted on purpose", f"{sum(result.corrupted.values()):,}")
    summary.add_row("replay rate", f"{result.rate:,.0f} events/s")
    summary.add_row("echo caught up", f"{drained:.1f}s after the replay's last acknowledgement")
    console.print(summary)
    lost = delta["transactions.raw"] - delta["transactions.echo"] - delta["transactions.dlq"]
    console.print("nothing lost" if lost == 0 else f"[red]{lost} messages unaccounted for[/red]")
    if broker and not keep_broker:
        broker.stop()
        console.print("broker stopped (data kept in the cache folder)")
    if lost:
        raise typer.Exit(1)
