"""Chaos: the online store's redis-server killed for 5 s, 30 s and 90 s and hung with SIGSTOP for 10 s and
30 s, under a steady load into the scorer; every event gets exactly one prediction, none is dead-lettered."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from services.tools.runtime.broker import free_port
from services.tools.runtime.redis_server import start_redis
from tests.chaos.load import SteadyLoad, outcome, tally
from tests.integration.scorer.test_exactly_once import CUSTOMERS, TERMINALS, make_run
from tests.kafka_helpers import Broker
from tests.scorer_helpers import featurized

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

# (what, seconds): kill = SIGKILL then a restart from its append-only file after the pause
FAULTS = [("kill", 5), ("stop", 10), ("kill", 30), ("stop", 30), ("kill", 90)]


def test_redis_killed_and_hung_under_load(broker: Broker, tmp_path: Path) -> None:
    port = free_port()
    server = start_redis(port, tmp_path / "redis", persistent=True)
    run = make_run(broker, tmp_path, f"redis://127.0.0.1:{port}/0")
    events = featurized(90_000, CUSTOMERS, TERMINALS)
    load = SteadyLoad(broker, run.features, events, 400.0, resend=0.05, seed=3)
    run.start()
    load.start()
    try:
        for what, pause in FAULTS:
            time.sleep(5)
            run.alive()
            if what == "kill":
                server.kill()
                server.wait(10)
                time.sleep(pause)
                server = start_redis(port, tmp_path / "redis", persistent=True)
            else:
                os.kill(server.pid, signal.SIGSTOP)
                time.sleep(pause)
                os.kill(server.pid, signal.SIGCONT)
        result = outcome(broker, run, load)
    finally:
        run.kill()
        server.kill()
    tally("redis killed 5/30/90 s and SIGSTOPped 10/30 s under 400/s", len(FAULTS), *result)
