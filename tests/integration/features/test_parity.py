"""40 simulated days through the running ingest and features services: every event's features, as
read back from the online store right after its write, equal the pandas batch definitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.features_helpers import FeaturesRun, batch_features, compare, read_featurized
from tests.integration.conftest import PARTITIONS, History, Slice
from tests.kafka_helpers import Broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]


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


def test_online_features_equal_batch_definitions_on_redis(cleaned: Slice, history: History) -> None:
    _check(batch_features(cleaned.table), history.seen)


def test_each_event_carries_its_own_rows_of_every_view(cleaned: Slice, history: History) -> None:
    """The scorer puts these over the online rows, which a later transaction may have replaced."""
    _check(batch_features(cleaned.table), history.carried)


@pytest.mark.timeout(900)
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
        seen = read_featurized(broker, run.features, n, 480, run)
    finally:
        run.stop()
    duplicates = sum(len(v) - 1 for v in seen.values())
    print(f"re-emitted after the kill: {duplicates}")
    _check(batch_features(cleaned.table), seen)
