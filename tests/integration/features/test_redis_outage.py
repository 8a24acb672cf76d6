"""Redis stopped for 20 s in the middle of a replay, then started again: features retries the online
writes (never dead-letters them), and every event is featurized once and equals the batch definitions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.tools.ops.offsets import end_offsets
from services.tools.runtime.broker import free_port
from services.tools.runtime.redis_server import start_redis
from tests.features_helpers import FeaturesRun, batch_features, compare, read_featurized
from tests.integration.conftest import PARTITIONS, Slice
from tests.kafka_helpers import Broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 20


@pytest.mark.timeout(900)
def test_redis_stopped_20_s_mid_replay_loses_nothing_and_dead_letters_nothing(
    broker: Broker, cleaned: Slice, tmp_path: Path
) -> None:
    port = free_port()
    redis_proc = start_redis(port, tmp_path / "redis", persistent=True)
    feats, dlq = broker.topic("features", PARTITIONS), broker.topic("dlq", PARTITIONS)
    url = f"redis://127.0.0.1:{port}/0"
    run = FeaturesRun(broker, cleaned.clean, cleaned.labels, feats, dlq, tmp_path, redis_url=url)
    n = cleaned.table.num_rows
    run.start()
    try:
        run.wait_emitted(0.3 * n)
        redis_proc.terminate()
        redis_proc.wait(30)
        stopped = run.emitted()
        time.sleep(OUTAGE_S)
        run.alive()  # it waits for the store: no crash, no skipping ahead
        during = run.emitted() - stopped
        redis_proc = start_redis(port, tmp_path / "redis", persistent=True)
        seen = read_featurized(broker, feats, n, 600, run)
    finally:
        run.stop()
        redis_proc.terminate()
        redis_proc.wait(30)
    assert stopped < n, "the outage came after the replay: nothing was tested"
    assert during < 0.05 * n, f"{during} outputs while the online store was down"
    assert sum(end_offsets(broker.kafka, dlq).values()) == 0, (
        "an event was dead-lettered during a store outage"
    )
    duplicates = sum(len(v) - 1 for v in seen.values())
    assert duplicates == 0, f"{duplicates} events featurized more than once"
    expected = batch_features(cleaned.table)
    problems = compare(expected, {k: v[0] for k, v in seen.items()})
    assert not problems, f"{len(problems)} mismatches, first: {problems[:5]}"
    assert "(transient, retry" in run.log.read_text(), "the outage was never met: nothing was tested"
