"""The scorer against a real redis-server that stops mid-stream and comes back (retried, nothing
dead-lettered, one prediction each), and that comes back empty (no input scored as 0: the events wait,
then go to the dead-letter topic with reason missing_inputs)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from services.common.kafka.envelope import header
from services.common.kafka.scan import scan_topic
from services.tools.runtime.broker import free_port
from services.tools.runtime.redis_server import start_redis
from tests.integration.scorer.test_exactly_once import CUSTOMERS, TERMINALS, make_run
from tests.kafka_helpers import Broker
from tests.scorer_helpers import counts, featurized, predictions_of, produce_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N, LATE, OUTAGE_S, WAIT_S = 20_000, 300, 10, 5


@pytest.mark.timeout(600)
def test_redis_stopped_then_emptied_loses_nothing_and_scores_no_missing_input(
    broker: Broker, tmp_path: Path
) -> None:
    port = free_port()
    server = start_redis(port, tmp_path / "redis", persistent=True)
    url = f"redis://127.0.0.1:{port}/0"
    run = make_run(broker, tmp_path, url)
    produce_all(broker, run.features, featurized(N, CUSTOMERS, TERMINALS))
    run.start(SCORER_MAX_BATCH_SIZE="200", SCORER_MISSING_INPUTS_WAIT_S=str(WAIT_S))
    try:
        deadline = time.monotonic() + 120
        while not predictions_of(broker, run.predictions, 1, timeout_s=1):
            run.alive()
            assert time.monotonic() < deadline, "no prediction before the outage"
        server.terminate()
        server.wait(30)
        stopped = len(predictions_of(broker, run.predictions, N, timeout_s=2))
        time.sleep(OUTAGE_S)
        run.alive()  # it waits for the store: no crash
        server = start_redis(port, tmp_path / "redis", persistent=True)  # its data back from the log
        preds = predictions_of(broker, run.predictions, N, timeout_s=180)
        assert 0 < stopped < N, f"the outage landed mid-stream ({stopped} of {N} scored)"
        per_tx = counts(preds)
        assert len(per_tx) == N and max(per_tx.values()) == 1, "every event scored once"
        assert not list(scan_topic(broker.kafka, run.dlq, idle_timeout_s=2)), "nothing dead-lettered"
        assert "(transient, retry" in run.log.read_text(), "the outage was never met: nothing was tested"

        # the store comes back empty: nothing to score these with
        redis.Redis(port=port).flushdb()
        produce_all(broker, run.features, featurized(LATE, CUSTOMERS, TERMINALS, start_id=N))
        deadline = time.monotonic() + 120
        while len(dead := list(scan_topic(broker.kafka, run.dlq, idle_timeout_s=2))) < LATE:
            run.alive()
            assert time.monotonic() < deadline, f"{len(dead)} of {LATE} dead-lettered"
        run.alive()
    finally:
        run.stop()
        server.terminate()
        server.wait(30)
    assert {header(m.headers(), "rtloop.error.reason") for m in dead} == {b"missing_inputs"}
    assert len(predictions_of(broker, run.predictions, N + 1, timeout_s=3)) == N, "none scored with 0s"
