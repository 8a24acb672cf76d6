"""Chaos: a 3-node embedded cluster (RF 3, min.insync.replicas 2) loses one node 5 times under load, with
the scorer and a producer attached; every event gets exactly one prediction and nothing valid is
dead-lettered."""

from __future__ import annotations

import random
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


def test_a_three_node_cluster_loses_a_node_under_load(tmp_path: Path, redis_url: str) -> None:
    settings = ToolSettings(
        cache_dir=tmp_path / "cache",
        jars=ROOT / ".cache" / "rtloop" / "jars",
        broker_nodes=3,
        broker_heap="384m",
        kafka=KafkaSettings(embedded_port=free_port()),
    )
    cluster = EmbeddedBroker(settings)
    cluster.start()
    broker = Broker(cluster.client, {"KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap}, replication=3)
    rng = random.Random(3)
    try:
        run = make_run(broker, tmp_path, redis_url)
        events = featurized(30_000, CUSTOMERS, TERMINALS)
        load = SteadyLoad(broker, run.features, events, 300.0, resend=0.05, seed=3)
        operator = Operator(settings.model_copy(update={"kafka": cluster.client}), [1, 2, 3])
        run.start()
        load.start()
        operator.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(8, 15))
            run.alive()
            node = rng.choice(cluster.nodes)
            node.kill()
            time.sleep(rng.uniform(5, 10))  # two of three serve meanwhile: acks=all needs min.insync 2
            cluster.start()  # the killed node rejoins and catches up
        result = outcome(broker, run, load)
        operator.stop()
    finally:
        cluster.stop()
    print(f"hanging transactions aborted: {len(operator.aborted)} {operator.aborted}")
    tally("3-node cluster, a node SIGKILLed x5 under 300/s, 5% re-sent", KILLS, *result)
