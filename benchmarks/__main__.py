"""`make bench`: foundation figures, measured side by side in one run on a private embedded broker."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import signing_key
from benchmarks.features import bench_features, bench_windows
from benchmarks.foundation import (
    bench_broker_start,
    bench_decode,
    bench_passthrough,
    bench_replay,
)
from benchmarks.ingest import bench_ingest
from benchmarks.monitor import bench_drift, bench_monitor
from benchmarks.ranker import bench_cores, bench_ranker
from benchmarks.reco_features import bench_recommendation_features
from benchmarks.recommendations import bench_recommendation_scorer
from benchmarks.scorer import bench_onnx, bench_scorer
from services.common.config import KafkaSettings
from services.tools.config import PROJECT_ROOT, ToolSettings
from services.tools.runtime.broker import EmbeddedBroker, free_port

console = Console()


def main(only: set[str]) -> None:
    """Run the benchmarks (all, or the groups named: foundation, ingest, features) and print a table and a
    last `BENCH {json}` line."""
    signing_key()  # before any child starts: they inherit it
    results: dict[str, float] = {}
    wanted = only or {"foundation", "ingest", "features", "scorer", "monitor", "loop"}
    with tempfile.TemporaryDirectory(prefix="rtloop-bench-") as tmp:
        settings = ToolSettings(
            cache_dir=Path(tmp),
            jars=PROJECT_ROOT / ".cache" / "rtloop" / "jars",
            controller_port=free_port(),
            kafka=KafkaSettings(embedded_port=free_port()),
        )
        broker = EmbeddedBroker(settings)
        with console.status("broker start (first start formats storage)…"):
            results |= bench_broker_start(broker)
        try:
            if "foundation" in wanted:
                with console.status("contract decode + validate…"):
                    results |= bench_decode()
                with console.status("replay producer…"):
                    results |= bench_replay(settings.kafka)
                with console.status("runner pass-through vs a bare librdkafka loop…"):
                    results |= bench_passthrough(settings.kafka)
            if "ingest" in wanted:
                with console.status("ingest: Delta throughput, raw→clean latency at 2k/s, memory…"):
                    env = {"RTLOOP_BROKER_PORT": str(settings.kafka.embedded_port)}
                    results |= bench_ingest(settings.kafka, env)
            if "features" in wanted:
                results |= _features(settings.kafka, results.get("passthrough_runner_msgs_per_s"))
            if "scorer" in wanted:
                results |= _scorer(settings.kafka, Path(tmp), results.get("passthrough_runner_msgs_per_s"))
            if "monitor" in wanted:
                results |= _monitor(settings.kafka)
            if "loop" in wanted:  # its own stack under `rtloop up` (own broker and Redis)
                results |= _loop(Path(tmp))
            if "quality" in wanted:  # ~30 min: only when asked for (make quality)
                results |= _quality(settings, Path(tmp))
        finally:
            gc.collect()  # drop the benchmark clients before their broker goes away
            broker.stop()
    table = Table(title=f"rtloop benchmarks ({time.strftime('%Y-%m-%d %H:%M')})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in results.items():
        table.add_row(name, f"{value:,.2f}" if value < 100 else f"{value:,.0f}")
    console.print(table)
    print("BENCH " + json.dumps({k: round(v, 3) for k, v in results.items()}))


def _features(kafka: KafkaSettings, passthrough: float | None) -> dict[str, float]:
    with console.status("features: the window engine alone…"):
        results = bench_windows()
    env = {"RTLOOP_BROKER_PORT": str(kafka.embedded_port)}
    with console.status("features: events/s, freshness at 2k/s, 500-entity online reads…"):
        results |= bench_features(kafka, env)
    with console.status("features: recommendations, freshness at 200 and 2k interactions/s…"):
        results |= bench_recommendation_features(kafka)
    if passthrough:
        results["features_vs_passthrough"] = results["features_events_per_s"] / passthrough
    return results


def _scorer(kafka: KafkaSettings, work: Path, passthrough: float | None) -> dict[str, float]:
    with _redis(work) as url, console.status("scorer: process vs naive loop; ONNX batches…"):
        results = bench_scorer(kafka, url)
        results |= bench_onnx(work / "onnx-models")
    with console.status("scorer: the recommendation ranker alone at N = 100 and 1,000…"):
        results |= bench_ranker()
    with console.status("scorer: the ranking and fraud cores side by side, no Kafka…"):
        results |= bench_cores()
    with console.status("scorer: recommendations, requests/s at N = 100 and 1,000, the hop…"):
        results |= bench_recommendation_scorer(kafka)
    if passthrough:
        results["scorer_vs_passthrough"] = results["scorer_events_per_s"] / passthrough
    return results


@contextlib.contextmanager
def _redis(work: Path) -> Iterator[str]:
    """REDIS_URL if set, else a private redis-server on a free port."""
    from services.tools.runtime.redis_server import start_redis

    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    port = free_port()
    proc = start_redis(port, work / f"redis-{port}")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def _monitor(kafka: KafkaSettings) -> dict[str, float]:
    with console.status("monitor: drift check of a 10k x 15 window vs Evidently's preset…"):
        results = bench_drift()
    with console.status("monitor: one process on 200k predictions and their labels…"):
        return results | bench_monitor(kafka)


def _loop(work: Path) -> dict[str, float]:
    from benchmarks.loop import bench_loop

    with console.status("the whole loop: latency at 1k/2k/5k events/s, max rate, memory…"):
        return bench_loop(work)


def _quality(settings: ToolSettings, work: Path) -> dict[str, float]:
    from benchmarks.quality import bench_quality

    with _redis(work) as url:
        return bench_quality(settings, url, work)


if __name__ == "__main__":
    main(set(sys.argv[1:]))
