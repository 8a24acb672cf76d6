"""`rtloop demo`: the whole loop on the embedded default — Kafka, simulator, replay, ingest, features,
training on the book's week, the scorer, and quality measured on the stream."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from typing import Annotated

import typer

from services.tools.cli.app import app, console, friendly, settings
from services.tools.cli.demo_tables import show_features, show_predictions, show_quality, summary_table

__all__ = ["demo_cmd"]


@app.command("demo")
@friendly
def demo_cmd(
    history_days: Annotated[int, typer.Option(min=0, help="days replayed before the training week")] = 14,
    customers: Annotated[int, typer.Option(min=10, help="simulated customers (the book: 5000)")] = 5000,
    terminals: Annotated[int, typer.Option(min=10, help="simulated terminals (the book: 10000)")] = 10000,
    corrupt: Annotated[float, typer.Option(help="share of corrupted transactions")] = 0.002,
    live_rate: Annotated[float, typer.Option(help="events/s of the live week (transactions + labels)")] = 600,
    keep_broker: Annotated[bool, typer.Option(help="leave the broker running")] = False,
) -> None:
    """Replay the book's weeks through ingest (Spark → Delta + transactions.clean) and features (windows
    → Feast online + Delta), train and promote a model on the training week (evaluated on the test week),
    then score the following week live (features → scorer → predictions) and measure its quality."""
    from deltalake import write_deltalake

    from services.tools.broker import EmbeddedBroker
    from services.tools.demo import (
        features_env,
        reset_topics,
        sample_features,
        snapshot,
        start_service,
        wipe_lake,
    )
    from services.tools.demo_loop import TEST_END, TRAIN_START, demo_registry, stream_quality, window
    from services.tools.demo_steps import replay_through, start_at_end, train_and_publish
    from services.tools.simulator import SimulationConfig, simulate

    s = settings()
    broker = None if s.kafka.external else EmbeddedBroker(s)
    t0 = time.monotonic()
    with console.status("starting Kafka…"):
        bootstrap = broker.start() if broker else s.kafka.bootstrap
    console.print(f"1/8 Kafka ready at {bootstrap} in {time.monotonic() - t0:.1f}s")
    if broker:
        reset_topics(s)
        console.print("2/8 topics re-created empty (embedded broker), lake tables and demo registry reset")
    else:
        from services.common.kafka.clients import make_admin
        from services.tools.topics import apply_topics, load_topics

        apply_topics(make_admin(s.kafka), load_topics(s.topics_file))
        console.print("2/8 topics applied (external cluster: existing messages are kept)")
    wipe_lake(
        s.lake_root, ("transactions", "transactions_rejected", "customer_features", "terminal_features")
    )
    registry = demo_registry(s.lake_root)
    import shutil

    shutil.rmtree(registry, ignore_errors=True)
    t1 = time.monotonic()
    days = (TEST_END + timedelta(days=7) - SimulationConfig.start_date).days
    table = simulate(SimulationConfig(n_customers=customers, n_terminals=terminals, n_days=days))
    write_deltalake(str(s.simulated_table), table, mode="overwrite", schema_mode="overwrite")
    first = TRAIN_START - timedelta(days=history_days)
    history, live = window(table, first, TEST_END), window(table, TEST_END, TEST_END + timedelta(days=7))
    console.print(
        f"3/8 simulated {table.num_rows:,} transactions ({customers:,} customers, {days} days) in "
        f"{time.monotonic() - t1:.1f}s; replaying {first} .. {TEST_END - timedelta(days=1)} "
        f"({history.num_rows:,}), then {TEST_END} .. {TEST_END + timedelta(days=6)} live ({live.num_rows:,})"
    )
    topics = ["transactions.raw", "labels", "transactions.clean", "transactions.dlq", "transactions.features"]
    before = snapshot(s, [*topics, "predictions"])
    log_dir = s.cache_dir / "logs"
    ingest = start_service(
        "services.ingest",
        log_dir / "ingest.log",
        s,
        INGEST_LAKE_ROOT=str(s.lake_root),
        INGEST_LAKE_TRIGGER="1 second",
    )
    run_id = str(int(time.time()))
    fenv = features_env(s, run_id)
    features = start_service("services.features", log_dir / "features.log", s, **fenv)
    procs = [ingest, features]
    try:
        first_pass = replay_through(s, history, corrupt, ingest, features, "4/8")
        report = train_and_publish(s, fenv, registry, "5/8")
        group = f"rtloop-scorer-demo-{run_id}"
        start_at_end(s, group, "transactions.features")
        scorer = start_service(
            "services.scorer",
            log_dir / "scorer.log",
            s,
            SCORER_GROUP_ID=group,
            SCORER_FEAST_DATA=fenv["FEATURES_FEAST_DATA"],
            SCORER_INSTANCE=run_id,
        )
        procs.append(scorer)
        console.print("6/8 scorer started (it serves the published model; see its log for the provider)")
        second_pass = replay_through(
            s, live, corrupt, ingest, features, "7/8", scorer=scorer, scorer_group=group, rate=live_rate
        )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
    after = snapshot(s, [*topics, "predictions"])
    results = [first_pass, second_pass]
    console.print(summary_table(s, {t: after[t] - before[t] for t in after}, results))
    show_features(sample_features(s, fenv))
    quality = stream_quality(
        s.kafka, s.lake_root, "labels", TEST_END, TEST_END + timedelta(days=7), TRAIN_START
    )
    show_predictions(quality.sample)
    show_quality(report, quality)
    console.print("8/8 summary above")
    lost = sum(r.lost for r in results)
    console.print("nothing lost" if lost == 0 else f"[red]{lost} transactions unaccounted for[/red]")
    console.print(f"lake: {s.lake_root}   models: {registry}   logs: {log_dir}")
    if broker and not keep_broker:
        broker.stop()
        console.print("broker stopped (data kept in the cache folder)")
    if lost:
        raise typer.Exit(1)
