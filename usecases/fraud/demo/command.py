"""`rtloop demo`: the whole loop on the embedded default — Kafka, simulator, replay, ingest, features,
training on the book's week, the scorer, and quality measured on the stream."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta
from typing import Annotated

import typer

from services.features.config import FeaturesSettings
from services.tools.cli.app import app, console, friendly, settings
from usecases.fraud.demo.tables import (
    show_alerts,
    show_features,
    show_latency,
    show_predictions,
    show_quality,
    show_replicas,
    summary_table,
)

__all__ = ["DRIFT_PHASE", "demo_cmd"]

DRIFT_PHASE = "amount:2018-08-18:0.5:3"  # the live week's fourth day on: the monitor names TX_AMOUNT


@app.command("demo")
@friendly
def demo_cmd(
    history_days: Annotated[
        int,
        typer.Option(
            min=0,
            help="days replayed before the training week: 37 fill every window (terminals' 30 days, 7 days "
            "back) before it, so the monitor's reference is like the live week; fewer are faster, and the "
            "monitor then flags the windows' counts as drift",
        ),
    ] = 37,
    customers: Annotated[
        int,
        typer.Option(min=10, help="simulated customers (the book: 5000; 2000 keeps the demo under 10 min)"),
    ] = 2000,
    terminals: Annotated[int, typer.Option(min=10, help="simulated terminals (the book: 10000)")] = 4000,
    corrupt: Annotated[float, typer.Option(help="share of corrupted transactions")] = 0.002,
    live_rate: Annotated[
        float,
        typer.Option(
            help="transactions/s of the live week (its labels follow as fast as they go); with the "
            "whole loop on 2 cores one features process keeps up with ~200/s (at 300/s its hop took "
            "18 s at p50: a lag, which the monitor also sees as skew)"
        ),
    ] = 200,
    drift: Annotated[
        list[str] | None,
        typer.Option(
            help="a drift scenario, repeatable: amount:2018-08-18:0.3:1.5 (share of customers, factor) "
            "or terminals:2018-08-18:50:14 (count, days); default: the drift phase, half the customers "
            "spending 3 times as much from the live week's fourth day (--drift none: no drift)"
        ),
    ] = None,
    window_hours: Annotated[float, typer.Option(min=1, help="the monitor's event-time window")] = 24,
    keep_broker: Annotated[bool, typer.Option(help="leave the broker running")] = False,
) -> None:
    """Replay the book's weeks through ingest (Spark → Delta + transactions.clean) and features (windows
    → Feast online + Delta), train and promote a model on the training week (evaluated on the test week),
    then score the following week live (features → scorer → predictions), monitor it (drift, live
    quality → alerts) and measure its quality."""
    from deltalake import write_deltalake

    from services.tools.deploy.topics import wait_visible
    from services.tools.ops.hops import hop_latencies, loop_topics
    from services.tools.ops.offsets import end_offsets
    from services.tools.runtime.broker import EmbeddedBroker, free_port
    from services.tools.runtime.demo import (
        alerts_after,
        reset_topics,
        save_page,
        snapshot,
        start_at_end,
        start_service,
        wait_ready,
        wipe_lake,
    )
    from usecases.fraud.demo.loop import (
        TEST_END,
        TRAIN_START,
        demo_registry,
        scorer_pool,
        stream_quality,
        window,
    )
    from usecases.fraud.demo.runs import WARM_DAYS, features_env, monitor_env, sample_features
    from usecases.fraud.demo.steps import replay_labels, replay_through, train_and_publish, wait_monitor
    from usecases.fraud.simulator import SimulationConfig, simulate
    from usecases.fraud.simulator.drift import parse_drift

    try:
        drift = [d for d in drift or [DRIFT_PHASE] if d != "none"]
        drifts = tuple(parse_drift(d) for d in drift)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--drift") from None
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
        from services.tools.deploy.topics import apply_topics, load_topics

        apply_topics(make_admin(s.kafka), load_topics(s.topics_file))
        wait_visible(s)
        console.print("2/8 topics applied (external cluster: existing messages are kept)")
    wipe_lake(
        s.lake_root, ("transactions", "transactions_rejected", "customer_features", "terminal_features")
    )
    registry = demo_registry(s.lake_root)
    import shutil

    shutil.rmtree(registry, ignore_errors=True)
    t1 = time.monotonic()
    days = (TEST_END + timedelta(days=7) - SimulationConfig.start_date).days
    table = simulate(
        SimulationConfig(n_customers=customers, n_terminals=terminals, n_days=days, drifts=drifts)
    )
    write_deltalake(str(s.simulated_table), table, mode="overwrite", schema_mode="overwrite")
    first = TRAIN_START - timedelta(days=history_days)
    history, live = window(table, first, TEST_END), window(table, TEST_END, TEST_END + timedelta(days=7))
    scenarios = "; drift: " + ", ".join(drift or ()) if drifts else ""
    console.print(
        f"3/8 simulated {table.num_rows:,} transactions ({customers:,} customers, {days} days{scenarios}) in "
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
    )
    run_id = str(int(time.time()))
    fenv = features_env(s, run_id)
    features = start_service("services.features", log_dir / "features.log", s, **fenv)
    procs = [ingest, features]
    pool, stop_pool = None, threading.Event()
    try:
        lake_group = FeaturesSettings(group_id=fenv["FEATURES_GROUP_ID"]).lake_group_id
        first_pass = replay_through(s, history, corrupt, ingest, features, "4/8", lake_group=lake_group)
        report = train_and_publish(s, fenv, registry, "5/8")
        group = f"rtloop-scorer-demo-{run_id}"
        start_at_end(s, group, "transactions.features")
        pool = scorer_pool(s, group, run_id, fenv["FEATURES_FEAST_DATA"], log_dir)
        pool.start()
        pool_thread = threading.Thread(target=pool.run, args=(stop_pool,), name="scorer-pool", daemon=True)
        pool_thread.start()
        port, reports = free_port(), s.lake_root / "reports" / f"demo-{run_id}"
        menv = monitor_env(run_id, registry, reports, port, window_hours)
        for topic in ("predictions", "labels"):
            start_at_end(s, menv["MONITOR_GROUP_ID"], topic)
        alerts_from = end_offsets(s.kafka, "alerts")
        monitor = start_service("services.monitor", log_dir / "monitor.log", s, **menv)
        procs.append(monitor)
        with console.status("waiting for the scorer and the monitor to be ready…"):
            scorer0 = pool.children[0]
            assert scorer0.proc is not None
            wait_ready(scorer0.spec.port, scorer0.proc, "the scorer")
            wait_ready(port, monitor, "the monitor")
        console.print(
            "6/8 scorer and monitor started (the scorer serves the published model; see its log for the "
            f"provider; scorers scale on lag like KEDA; the monitor's page: http://127.0.0.1:{port}/)"
        )
        live_from = {t: end_offsets(s.kafka, t) for t in loop_topics(s.declaration)}
        second_pass = replay_through(
            s,
            live,
            corrupt,
            ingest,
            features,
            "7/8",
            scorer_group=group,
            rate=live_rate,
            labels=False,
            lake_group=lake_group,
        )
        wait_monitor(s, menv["MONITOR_GROUP_ID"], procs, ("predictions",))
        replay_labels(s, live, "7/8")  # after the predictions, as a week later would
        wait_monitor(s, menv["MONITOR_GROUP_ID"], procs, ("predictions", "labels"))
        page = save_page(port, reports, monitor)
    finally:
        stop_pool.set()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        if pool is not None:
            pool_thread.join(10)
            pool.stop_all(time.monotonic() + 60)
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
    show_quality(report, quality, customers, tuple(drift))
    show_alerts(alerts_after(s, alerts_from), window_hours)
    show_latency(hop_latencies(s.kafka, s.declaration, live_from), live_rate)
    if pool is not None:
        show_replicas(pool.polls, pool.policy, pool.partitions)
    if history_days < WARM_DAYS:
        console.print(
            f"(history of {history_days} days: the 30-day windows were still filling during the training "
            f"week, so its reference is not the live week's; --history-days {WARM_DAYS} avoids that drift)"
        )
    console.print(f"monitor page (a copy): {page or '(not saved)'}", soft_wrap=True)  # paths whole
    console.print(f"reports: {reports}", soft_wrap=True)
    console.print("8/8 summary above")
    lost = sum(r.lost for r in results)
    console.print("nothing lost" if lost == 0 else f"[red]{lost} transactions unaccounted for[/red]")
    console.print(f"lake: {s.lake_root}   models: {registry}   logs: {log_dir}", soft_wrap=True)
    if broker and not keep_broker:
        broker.stop()
        console.print("broker stopped (data kept in the cache folder)")
    if lost:
        raise typer.Exit(1)
