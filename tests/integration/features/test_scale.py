"""features scaled out: processes share the partitions; one is SIGKILLed and one added mid-replay."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.common.kafka.clients import make_admin
from tests.features_helpers import FeaturesRun, batch_features, compare, read_featurized
from tests.integration.conftest import PARTITIONS, Slice
from tests.kafka_helpers import Broker, copy_part

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(1200)
def test_three_processes_one_killed_one_added_keep_parity(
    broker: Broker, cleaned: Slice, redis_url: str, tmp_path: Path
) -> None:
    import redis

    url = redis_url.rsplit("/", 1)[0] + "/7"  # a database of its own
    redis.Redis.from_url(url).flushdb()
    clean, labels = broker.topic("clean", PARTITIONS), broker.topic("labels", PARTITIONS)
    feats, dlq = broker.topic("features", PARTITIONS), broker.topic("dlq", PARTITIONS)
    copy_part(broker, cleaned.labels, labels, 0.0, 1.0)
    copy_part(broker, cleaned.clean, clean, 0.0, 0.4)

    def process(i: int) -> FeaturesRun:
        return FeaturesRun(broker, clean, labels, feats, dlq, tmp_path, url, instance=i)

    def wait_for(what: str, done: object) -> None:
        deadline = time.monotonic() + 300
        while not done():  # type: ignore[operator]
            for run in runs:
                if run is not runs[1]:
                    run.alive()
            assert time.monotonic() < deadline, f"{what}: {runs[0].progress()}"
            time.sleep(0.5)

    def members(k: int) -> bool:
        """The group is stable with k members, each owning partitions (the cooperative-sticky assignor
        balances counts over the three input topics: a member may own labels partitions only)."""
        desc = admin.describe_consumer_groups([runs[0].group])[runs[0].group].result(10)
        owned = [m.assignment.topic_partitions for m in desc.members]
        return str(desc.state).endswith("STABLE") and len(owned) == k and all(owned)

    admin = make_admin(broker.kafka)
    runs = [process(i) for i in range(3)]
    try:
        for run in runs:
            run.start()
        wait_for("three processes sharing the partitions", lambda: members(3))
        copy_part(broker, cleaned.clean, clean, 0.4, 0.7)
        runs[1].kill()  # mid-replay: its partitions go to the others, then some to the one added now
        runs.append(process(3))
        runs[3].start()
        wait_for(
            "the added process in the group", lambda: members(3) and "consuming" in runs[3].log.read_text()
        )
        copy_part(broker, cleaned.clean, clean, 0.7, 1.0)
        n = cleaned.table.num_rows
        seen = read_featurized(broker, feats, n, 600, runs[0])
        for run in (runs[0], runs[2], runs[3]):
            run.alive()
    finally:
        for run in runs:
            if run.proc is not None:
                run.stop()  # the killed one has exited already
    duplicates = sum(len(v) - 1 for v in seen.values())
    assert duplicates == 0, f"{duplicates} events featurized more than once"
    expected = batch_features(cleaned.table)
    problems = compare(expected, {k: v[0] for k, v in seen.items()})
    assert not problems, f"{len(problems)} mismatches, first: {problems[:5]}"
