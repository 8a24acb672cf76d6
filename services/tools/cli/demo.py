"""`rtloop demo`: the loop so far on the embedded default — Kafka, simulator, replay, ingest, features."""

from __future__ import annotations

import signal
import time
from typing import Annotated

import typer
from rich.table import Table

from services.tools.cli.app import app, console, friendly, settings

__all__ = ["demo_cmd"]


def _show_features(events: list[dict[str, object]]) -> None:
    shown = [
        ("TX_AMOUNT", "amount"),
        ("CUSTOMER_ID_NB_TX_7DAY_WINDOW", "cust n 7d"),
        ("CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW", "cust avg 7d"),
        ("TERMINAL_ID_NB_TX_7DAY_WINDOW", "term n 7d"),
        ("TERMINAL_ID_RISK_7DAY_WINDOW", "term risk 7d"),
        ("TX_DURING_NIGHT", "night"),
    ]
    table = Table(title="7/7 features read back from the online store (Feast fraud_v1, 6 of 15 inputs)")
    for col in ("tx_id", "customer", "terminal", *(label for _, label in shown)):
        table.add_column(col, justify="right")
    for e in events:
        online = e["online"]
        assert isinstance(online, dict)
        cells = [f"{online.get(name, float('nan')) or 0:.2f}" for name, _ in shown]
        table.add_row(str(e["tx_id"]), str(e["customer_id"]), str(e["terminal_id"]), *cells)
    console.print(table)
    console.print(
        "terminal windows look back from 7 days before each event (labels arrive 7 days late): "
        "a demo shorter than 8 days shows none yet (try --days 21)"
    )


@app.command("demo")
@friendly
def demo_cmd(
    days: Annotated[int, typer.Option(min=1, help="days to simulate and replay")] = 7,
    corrupt: Annotated[float, typer.Option(help="share of corrupted transactions")] = 0.002,
    keep_broker: Annotated[bool, typer.Option(help="leave the broker running")] = False,
) -> None:
    """Start Kafka, simulate, replay through ingest (Spark → Delta + transactions.clean) and features
    (windows → Feast online store + Delta → transactions.features), summarise."""
    from deltalake import write_deltalake

    from services.tools.broker import EmbeddedBroker
    from services.tools.demo import (
        features_env,
        reset_topics,
        sample_features,
        snapshot,
        start_service,
        wait_until,
        wipe_lake,
    )
    from services.tools.lake import rows_and_version as _rows
    from services.tools.replay import build_stream
    from services.tools.replay.producer import ReplayOptions, replay
    from services.tools.simulator import SimulationConfig, simulate

    s = settings()
    broker = None if s.kafka.external else EmbeddedBroker(s)
    t0 = time.monotonic()
    with console.status("starting Kafka…"):
        bootstrap = broker.start() if broker else s.kafka.bootstrap
    console.print(f"1/7 Kafka ready at {bootstrap} in {time.monotonic() - t0:.1f}s")
    if broker:
        reset_topics(s)
        console.print("2/7 topics re-created empty (embedded broker), lake tables reset")
    else:
        from services.common.kafka.clients import make_admin
        from services.tools.topics import apply_topics, load_topics

        apply_topics(make_admin(s.kafka), load_topics(s.topics_file))
        console.print("2/7 topics applied (external cluster: existing messages are kept)")
    wipe_lake(
        s.lake_root, ("transactions", "transactions_rejected", "customer_features", "terminal_features")
    )
    t1 = time.monotonic()
    table = simulate(SimulationConfig(n_days=days))
    write_deltalake(str(s.simulated_table), table, mode="overwrite", schema_mode="overwrite")
    console.print(
        f"3/7 simulated {table.num_rows:,} transactions over {days} days in {time.monotonic() - t1:.1f}s"
    )
    topics = ["transactions.raw", "labels", "transactions.clean", "transactions.dlq", "transactions.features"]
    before = snapshot(s, topics)
    log = s.cache_dir / "logs" / "ingest.log"
    ingest = start_service(
        "services.ingest", log, s, INGEST_LAKE_ROOT=str(s.lake_root), INGEST_LAKE_TRIGGER="1 second"
    )
    fenv = features_env(s, str(int(time.time())))
    features = start_service("services.features", s.cache_dir / "logs" / "features.log", s, **fenv)
    lake_tx, lake_bad = s.lake_root / "transactions", s.lake_root / "transactions_rejected"
    try:
        result = replay(s.kafka, build_stream(table), ReplayOptions(corrupt_share=corrupt))
        console.print(f"4/7 replayed {result.events:,} events at {result.rate:,.0f}/s")
        bad = sum(result.corrupted.values())
        with console.status("ingest: Spark is cleaning into Delta and transactions.clean…"):
            took = wait_until(
                lambda: _rows(lake_tx)[0] >= result.transactions - bad and _rows(lake_bad)[0] >= bad,
                ingest,
                "the lake to hold every replayed transaction",
            )
        console.print(f"5/7 ingest caught up {took:.1f}s after the replay (Spark start included)")
        clean_now = snapshot(s, ["transactions.clean"])["transactions.clean"]
        with console.status("features: windows → Feast online store + Delta → transactions.features…"):
            took = wait_until(
                lambda: (
                    snapshot(s, ["transactions.features"])["transactions.features"]
                    - before["transactions.features"]
                    >= clean_now - before["transactions.clean"]
                ),
                features,
                "transactions.features to hold every clean event",
            )
        console.print(f"6/7 features caught up {took:.1f}s after ingest")
    finally:
        for proc in (ingest, features):
            proc.send_signal(signal.SIGTERM)
        ingest.wait(60)
        features.wait(60)
    after = snapshot(s, topics)
    delta = {t: after[t] - before[t] for t in topics}
    (tx_rows, tx_version), (bad_rows, bad_version) = _rows(lake_tx), _rows(lake_bad)
    summary = Table(title="rtloop demo: replay → ingest → features")
    summary.add_column("what")
    summary.add_column("count", justify="right")
    summary.add_row("transactions → transactions.raw", f"{delta['transactions.raw']:,}")
    summary.add_row("labels → labels", f"{delta['labels']:,}")
    summary.add_row("corrupted on purpose", f"{bad:,}")
    summary.add_row("clean → transactions.clean", f"{delta['transactions.clean']:,}")
    summary.add_row("rejected → transactions.dlq", f"{delta['transactions.dlq']:,}")
    summary.add_row("Delta transactions rows (version)", f"{tx_rows:,} (v{tx_version})")
    summary.add_row("Delta transactions_rejected rows (version)", f"{bad_rows:,} (v{bad_version})")
    summary.add_row("featurized → transactions.features", f"{delta['transactions.features']:,}")
    summary.add_row(
        "Delta customer_features / terminal_features rows",
        f"{_rows(s.lake_root / 'customer_features')[0]:,} / {_rows(s.lake_root / 'terminal_features')[0]:,}",
    )
    summary.add_row("replay rate", f"{result.rate:,.0f} events/s")
    console.print(summary)
    _show_features(sample_features(s, fenv))
    lost = result.transactions - tx_rows - bad_rows
    console.print("nothing lost" if lost == 0 else f"[red]{lost} transactions unaccounted for[/red]")
    console.print(f"lake: {s.lake_root}   ingest log: {log}")
    if broker and not keep_broker:
        broker.stop()
        console.print("broker stopped (data kept in the cache folder)")
    if lost:
        raise typer.Exit(1)
