"""Chaos: the broker SIGKILLed and restarted 5 times mid-stream with the scorer and a producer attached;
every event gets exactly one prediction and nothing valid is dead-lettered. A crash can leave a
transaction hanging (Kafka 4.4 skips markers for partitions whose leader it does not know yet on
restart): the operator's `rtloop broker hanging --abort` runs every 20 s meanwhile, as the runbook says."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.common.config import KafkaSettings
from services.tools.config import ToolSettings
from services.tools.runtime.broker import EmbeddedBroker, free_port
from tests.chaos.load import Operator, SteadyLoad, outcome, tally
from tests.integration.scorer.test_exactly_once import CUSTOMERS, TERMINALS, make_run
from tests.kafka_helpers import ROOT, Broker
from tests.scorer_helpers import featurized

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

KILLS = 5


def test_the_broker_killed_and_restarted_under_load(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    settings = ToolSettings(
        cache_dir=tmp_path / "cache",
        jars=ROOT / ".cache" / "rtloop" / "jars",
        controller_port=free_port(),
        kafka=KafkaSettings(embedded_port=port),
    )
    embedded = EmbeddedBroker(settings)
    embedded.start()
    broker = Broker(settings.kafka, {"RTLOOP_BROKER_PORT": str(port)})
    try:
        run = make_run(broker, tmp_path, redis_url)
        events = featurized(30_000, CUSTOMERS, TERMINALS)
        load = SteadyLoad(broker, run.features, events, 300.0, resend=0.05, seed=5)
        operator = Operator(settings, [1])
        run.start()
        load.start()
        operator.start()
        for _ in range(KILLS):
            time.sleep(15)
            run.alive()
            embedded.nodes[0].kill()
            time.sleep(5)
            embedded.start()  # same ports, same data: the clients reconnect
        result = outcome(broker, run, load)
        operator.stop()
    finally:
        embedded.stop()
    print(f"hanging transactions aborted: {len(operator.aborted)} {operator.aborted}")
    tally(f"broker SIGKILL + restart x{KILLS} under 300/s, 5% re-sent", KILLS, *result)
