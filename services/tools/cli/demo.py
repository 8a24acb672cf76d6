"""`rtloop demo`: the loop so far on the embedded default — Kafka, simulator, replay, ingest."""

from __future__ import annotations

import signal
import time
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
    """Start Kafka, simulate, replay through ingest (Spark → Delta + transactions.clean), summarise."""
    from deltalake import write_deltalake

    from services.tools.broker import EmbeddedBroker
    from services.tools.demo import reset_topics, snapshot, start_service, wait_until, wipe_lake
    from services.tools.lake import rows_and_version as _rows
    from services.tools.replay import build_stream
    from services.tools.replay.producer import ReplayOptions, replay
    from services.tools.simulator import SimulationConfig, simulate

    s = settings()
    broker = None if s.kafka.external else EmbeddedBroker(s)
    t0 = time.monotonic()
    with console.status("starting Kafka…"):
        bootstrap = broker.start() if broker else s.kafka.bootstrap
    console.print(f"1/6 Kafka ready at {bootstrap} in {time.monotonic() - t0:.1f}s")
    if broker:
        reset_topics(s)
        console.print("2/6 topics re-created empty (embedded broker), lake tables reset")
    else:
        from services.common.kafka.clients import make_admin
        from services.tools.topics import apply_topics, load_topics

        apply_topics(make_admin(s.kafka), load_topics(s.topics_file))
        console.print("2/6 topics applied (external cluster: existing messages are kept)")
    wipe_lake(s.lake_root, ("transactions", "transactions_rejected"))
    t1 = time.monotonic()
    table = simulate(SimulationConfig(n_days=days))
    write_deltalake(str(s.simulated_table), table, mode="overwrite", schema_mode="overwrite")
    console.print(
        f"3/6 simulated {table.num_rows:,} transactions over {days} days in {time.monotonic() - t1:.1f}s"
    )
    topics = ["transactions.raw", "labels", "transactions.clean", "transactions.dlq"]
    before = snapshot(s, topics)
    log = s.cache_dir / "logs" / "ingest.log"
    ingest = start_service(
        "services.ingest", log, s, INGEST_LAKE_ROOT=str(s.lake_root), INGEST_LAKE_TRIGGER="1 second"
    )
    lake_tx, lake_bad = s.lake_root / "transactions", s.lake_root / "transactions_rejected"
    try:
        result = replay(s.kafka, build_stream(table), ReplayOptions(corrupt_share=corrupt))
        console.print(f"4/6 replayed {result.events:,} events at {result.rate:,.0f}/s")
        bad = sum(result.corrupted.values())
        with console.status("ingest: Spark is cleaning into Delta and transactions.clean…"):
            took = wait_until(
                lambda: _rows(lake_tx)[0] >= result.transactions - bad and _rows(lake_bad)[0] >= bad,
                ingest,
                "the lake to hold every replayed transaction",
            )
        console.print(f"5/6 ingest caught up {took:.1f}s after the replay (Spark start included)")
    finally:
        ingest.send_signal(signal.SIGTERM)
        ingest.wait(60)
    after = snapshot(s, topics)
    delta = {t: after[t] - before[t] for t in topics}
    (tx_rows, tx_version), (bad_rows, bad_version) = _rows(lake_tx), _rows(lake_bad)
    summary = Table(title="rtloop demo: replay → ingest")
    summary.add_column("what")
    summary.add_column("count", justify="right")
    summary.add_row("transactions → transactions.raw", f"{delta['transactions.raw']:,}")
    summary.add_row("labels → labels", f"{delta['labels']:,}")
    summary.add_row("corrupted on purpose", f"{bad:,}")
    summary.add_row("clean → transactions.clean", f"{delta['transactions.clean']:,}")
    summary.add_row("rejected → transactions.dlq", f"{delta['transactions.dlq']:,}")
    summary.add_row("Delta transactions rows (version)", f"{tx_rows:,} (v{tx_version})")
    summary.add_row("Delta transactions_rejected rows (version)", f"{bad_rows:,} (v{bad_version})")
    summary.add_row("replay rate", f"{result.rate:,.0f} events/s")
    console.print(summary)
    lost = result.transactions - tx_rows - bad_rows
    console.print("nothing lost" if lost == 0 else f"[red]{lost} transactions unaccounted for[/red]")
    console.print(f"lake: {s.lake_root}   ingest log: {log}")
    if broker and not keep_broker:
        broker.stop()
        console.print("broker stopped (data kept in the cache folder)")
    if lost:
        raise typer.Exit(1)
