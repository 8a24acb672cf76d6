"""40 simulated days through the running ingest and features services: every event's features, as
read back from the online store right after its write, equal the pandas batch definitions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from services.tools.offsets import end_offsets
from services.tools.replay import build_stream
from services.tools.replay.producer import ReplayOptions, replay
from services.tools.simulator import SimulationConfig, simulate
from tests.features_helpers import FeaturesRun, batch_features, compare, read_featurized
from tests.ingest_helpers import IngestRun
from tests.kafka_helpers import Broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 6


@dataclass
class Slice:
    table: pa.Table
    clean: str
    labels: str


@pytest.fixture(scope="module")
def cleaned(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slice]:
    """A 40-day slice (600 customers, 1,200 terminals) replayed through ingest once."""
    table = simulate(SimulationConfig(n_customers=600, n_terminals=1200, n_days=40))
    raw, clean, labels, dlq = (broker.topic(p, PARTITIONS) for p in ("raw", "clean", "labels", "dlq"))
    result = replay(broker.kafka, build_stream(table), ReplayOptions(raw_topic=raw, labels_topic=labels))
    assert result.failed == 0
    root = tmp_path_factory.mktemp("ingest")
    ingest = IngestRun(broker, raw, clean, dlq, root / "lake", root / "ingest.log")
    ingest.start()
    try:
        import time

        deadline = time.monotonic() + 300
        while sum(end_offsets(broker.kafka, clean).values()) < table.num_rows:
            ingest.alive()
            assert time.monotonic() < deadline, "ingest did not clean the slice in 300 s"
            time.sleep(1)
    finally:
        ingest.stop()
    yield Slice(table, clean, labels)


def _features(broker: Broker, cleaned: Slice, root: Path, redis_url: str | None) -> FeaturesRun:
    """A features deployment on the slice's topics with its own output topics and state."""
    feats, dlq = broker.topic("features", PARTITIONS), broker.topic("dlq", PARTITIONS)
    return FeaturesRun(broker, cleaned.clean, cleaned.labels, feats, dlq, root, redis_url=redis_url)


def _check(expected: object, seen: dict[str, list[dict[str, float | None]]]) -> None:
    import pandas as pd

    assert isinstance(expected, pd.DataFrame)
    assert set(seen) == set(expected.index)
    for copy in range(max(len(v) for v in seen.values())):
        got = {k: v[min(copy, len(v) - 1)] for k, v in seen.items()}
        problems = compare(expected, got)
        assert not problems, f"{len(problems)} mismatches (copy {copy}), first: {problems[:5]}"


def test_online_features_equal_batch_definitions_on_redis(
    broker: Broker, cleaned: Slice, redis_url: str, tmp_path: Path
) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    run = _features(broker, cleaned, tmp_path, redis_url)
    run.start()
    try:
        seen = read_featurized(broker, run.features, cleaned.table.num_rows, 600, run)
    finally:
        run.stop()
    _check(batch_features(cleaned.table), seen)


def test_sigkill_mid_replay_then_restart_keeps_parity_on_sqlite(
    broker: Broker, cleaned: Slice, tmp_path: Path
) -> None:
    import time

    from services.tools.offsets import end_offsets as ends

    run = _features(broker, cleaned, tmp_path, None)
    run.start()
    n = cleaned.table.num_rows
    deadline = time.monotonic() + 300
    while sum(ends(broker.kafka, run.features).values()) < n // 3:
        run.alive()
        assert time.monotonic() < deadline, "features made no progress"
        time.sleep(0.5)
    run.kill()
    run.start()
    try:
        seen = read_featurized(broker, run.features, n, 600, run)
    finally:
        run.stop()
    duplicates = sum(len(v) - 1 for v in seen.values())
    print(f"re-emitted after the kill: {duplicates}")
    _check(batch_features(cleaned.table), seen)
