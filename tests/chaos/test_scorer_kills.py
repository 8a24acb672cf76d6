"""Chaos: the scorer SIGKILLed 5 times at random points under a steady load with 5% of events sent twice;
every event gets exactly one prediction and nothing valid is dead-lettered."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.chaos.load import SteadyLoad, outcome, tally
from tests.integration.scorer.test_exactly_once import CUSTOMERS, TERMINALS, make_run
from tests.kafka_helpers import Broker
from tests.scorer_helpers import featurized

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

EVENTS, RATE, KILLS = 40_000, 800.0, 5


def test_scorer_sigkilled_five_times_under_load_with_copies(
    broker: Broker, tmp_path: Path, redis_url: str
) -> None:
    run = make_run(broker, tmp_path, redis_url)
    events = featurized(EVENTS, CUSTOMERS, TERMINALS)
    load = SteadyLoad(broker, run.features, events, RATE, resend=0.05, seed=7)
    run.start(SCORER_MAX_BATCH_SIZE="500")
    load.start()
    rng, kills = random.Random(11), 0
    while kills < KILLS:
        time.sleep(rng.uniform(2, 8))
        run.alive()
        run.kill()
        kills += 1
        run.start(SCORER_MAX_BATCH_SIZE="500")
    tally("scorer SIGKILL x5 under 800/s, 5% re-sent", kills, *outcome(broker, run, load))
