"""`make bench`: foundation figures, measured side by side in one run on a private embedded broker."""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.features import bench_features
from benchmarks.foundation import (
    bench_broker_start,
    bench_decode,
    bench_passthrough,
    bench_replay,
)
from benchmarks.ingest import bench_ingest
from services.common.config import KafkaSettings
from services.tools.broker import EmbeddedBroker, free_port
from services.tools.config import PROJECT_ROOT, ToolSettings

console = Console()


def main(only: set[str]) -> None:
    """Run the benchmarks (all, or the groups named: foundation, ingest, features) and print a table and a
    last `BENCH {json}` line."""
    results: dict[str, float] = {}
    wanted = only or {"foundation", "ingest", "features", "scorer"}
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
                with console.status("features: events/s, freshness at 2k/s, 500-entity online reads…"):
                    env = {"RTLOOP_BROKER_PORT": str(settings.kafka.embedded_port)}
                    results |= bench_features(settings.kafka, env)
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


def _quality(settings: ToolSettings, work: Path) -> dict[str, float]:
    import os

    from benchmarks.quality import bench_quality
    from services.tools.redis_server import start_redis

    url = os.environ.get("REDIS_URL")
    redis = None
    if not url:
        port = free_port()
        redis = start_redis(port, work / "redis")
        url = f"redis://127.0.0.1:{port}/0"
    try:
        return bench_quality(settings, url, work)
    finally:
        if redis is not None:
            redis.terminate()


if __name__ == "__main__":
    main(set(sys.argv[1:]))
