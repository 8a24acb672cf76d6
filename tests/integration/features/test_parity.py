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


@pytest.mark.timeout(1200)
def test_five_sigkills_mid_replay_keep_parity_exactly_once_on_sqlite(
    broker: Broker, cleaned: Slice, tmp_path: Path
) -> None:
    """features is SIGKILLed at 5 random points of the replay and restarted each time: every event is
    featurized exactly once (the read_committed output has no duplicate) and equals the batch
    definitions."""
    import random

    run = _features(broker, cleaned, tmp_path, None)
    n = cleaned.table.num_rows
    points = sorted(random.uniform(0.05, 0.9) for _ in range(5))
    run.start()
    for point in points:
        run.wait_emitted(point * n)
        run.kill()
        run.start()
    try:
        seen = read_featurized(broker, run.features, n, 480, run)
    finally:
        run.stop()
    duplicates = sum(len(v) - 1 for v in seen.values())
    assert duplicates == 0, f"{duplicates} events featurized more than once"
    _check(batch_features(cleaned.table), seen)
