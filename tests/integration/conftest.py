"""Session fixtures of the integration tests that share one expensive setup: a 40-day slice replayed
through ingest, its features computed once on Redis (the Delta history), and models trained on it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from services.tools.ops.lake import rows_and_version
from services.tools.ops.offsets import end_offsets
from tests.features_helpers import FeaturesRun, read_featurized
from tests.ingest_helpers import IngestRun
from tests.kafka_helpers import Broker
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay
from usecases.fraud.simulator import SimulationConfig, simulate

PARTITIONS = 6


@dataclass
class Slice:
    """The simulated slice, ingest's topics and the folder whose lake holds its `transactions` table."""

    table: pa.Table
    clean: str
    labels: str
    root: Path


@dataclass
class History:
    """The slice through features on Redis: what each event read back, and the lake with both tables."""

    run: FeaturesRun
    seen: dict[str, list[dict[str, float | None]]]
    carried: dict[str, list[dict[str, float | None]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="session")
def cleaned(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slice]:
    """A 40-day slice (600 customers, 1,200 terminals) replayed through ingest once."""
    table = simulate(SimulationConfig(n_customers=600, n_terminals=1200, n_days=40))
    raw, clean, labels, dlq = (broker.topic(p, PARTITIONS) for p in ("raw", "clean", "labels", "dlq"))
    result = replay(broker.kafka, build_stream(table), ReplayOptions(raw_topic=raw, labels_topic=labels))
    assert result.failed == 0
    root = tmp_path_factory.mktemp("slice")
    ingest = IngestRun(broker, raw, clean, dlq, root / "lake", root / "ingest.log")
    ingest.start()
    try:
        deadline = time.monotonic() + 300
        while sum(end_offsets(broker.kafka, clean).values()) < table.num_rows:
            ingest.alive()
            assert time.monotonic() < deadline, "ingest did not clean the slice in 300 s"
            time.sleep(1)
        deadline = time.monotonic() + 180  # the lake query commits on its own trigger
        while rows_and_version(root / "lake" / "transactions")[0] < table.num_rows:
            ingest.alive()
            assert time.monotonic() < deadline, "ingest did not write the slice to Delta in time"
            time.sleep(1)
    finally:
        ingest.stop()
    yield Slice(table, clean, labels, root)


@pytest.fixture(scope="session")
def history(broker: Broker, cleaned: Slice, redis_url: str) -> History:
    """features on Redis over the slice, writing its Delta tables next to ingest's."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    feats, dlq = broker.topic("features", PARTITIONS), broker.topic("dlq", PARTITIONS)
    run = FeaturesRun(broker, cleaned.clean, cleaned.labels, feats, dlq, cleaned.root, redis_url=redis_url)
    run.start()
    carried: dict[str, list[dict[str, float | None]]] = {}
    try:
        seen = read_featurized(broker, run.features, cleaned.table.num_rows, 600, run, carried)
    finally:
        run.stop()
    return History(run, seen, carried)
