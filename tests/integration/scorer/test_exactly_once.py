"""Exactly one prediction per tx_id: 50k events across a SIGKILL and restart, with 5% of them sent again
upstream before and after the restart; two instances share a group, and copies sent after a scale step
reach a scorer that never saw the originals."""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path

import pytest

from services.tools.ops.offsets import caught_up
from tests.kafka_helpers import Broker, unique
from tests.scorer_helpers import (
    ScorerRun,
    counts,
    featurized,
    predictions_of,
    produce_all,
    register_model,
    seed_online,
)
from usecases.fraud import FRAUD_V1

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CUSTOMERS, TERMINALS = 2000, 1000


def make_run(broker: Broker, tmp_path: Path, redis_url: str, instance: str = "0") -> ScorerRun:
    project = unique("p").replace("-", "_")
    run = ScorerRun(
        broker,
        features=broker.topic("features", 6),
        predictions=broker.topic("predictions", 6),
        models=broker.topic("models", 1, **{"cleanup.policy": "compact"}),
        alerts=broker.topic("alerts", 1),
        dlq=broker.topic("dlq", 1),
        root=tmp_path,
        project=project,
        redis_url=redis_url,
        instance=instance,
    )
    seed_online(redis_url, tmp_path / "feast", project, CUSTOMERS, TERMINALS)
    run.publish(register_model(tmp_path / "models", "fraud", "v1"))
    return run


def resent(events: list[tuple[bytes, bytes]], share: float, seed: int) -> list[tuple[bytes, bytes]]:
    """Copies of a random `share` of the events (an upstream re-delivery: same key, same id)."""
    return random.Random(seed).sample(events, int(len(events) * share))


def drained(broker: Broker, run: ScorerRun, timeout_s: float = 120) -> None:
    """Until the scorer group has committed every message of its input."""
    deadline = time.monotonic() + timeout_s
    while not caught_up(broker.kafka, f"{run.group}-{run.root.name}", run.features):
        run.alive()
        assert time.monotonic() < deadline, "the scorer did not drain its input"
        time.sleep(0.5)


def test_50k_events_one_prediction_each_across_a_sigkill_and_upstream_copies(
    broker: Broker, tmp_path: Path, redis_url: str
) -> None:
    run = make_run(broker, tmp_path, redis_url)
    events = featurized(50_000, CUSTOMERS, TERMINALS)
    produce_all(broker, run.features, events)
    run.start(SCORER_MAX_BATCH_SIZE="500")
    # kill it mid-stream: some batches committed, one possibly in flight
    deadline = time.monotonic() + 120
    while len(predictions_of(broker, run.predictions, 1, timeout_s=1)) == 0 and time.monotonic() < deadline:
        run.alive()
    time.sleep(0.5)
    run.kill()
    before = len(predictions_of(broker, run.predictions, 50_000, timeout_s=3))
    assert 0 < before < 50_000, f"the kill should land mid-stream ({before} predictions)"
    produce_all(broker, run.features, resent(events[:before], 0.05, 1))  # copies of answered events
    run.start(SCORER_MAX_BATCH_SIZE="500")
    predictions_of(broker, run.predictions, 50_000, timeout_s=180)
    produce_all(broker, run.features, resent(events, 0.05, 2))  # copies after the restart, any event
    drained(broker, run)
    preds = predictions_of(broker, run.predictions, 50_001, timeout_s=5)
    run.stop()
    per_tx = counts(preds)
    assert len(per_tx) == 50_000, f"{50_000 - len(per_tx)} transactions without a prediction"
    assert max(per_tx.values()) == 1, f"duplicates: {[t for t, n in per_tx.items() if n > 1][:5]}"
    assert len(preds) == 50_000
    sample = next(p for p in preds if p["tx_id"] == "tx299")
    assert sample["features"]["TX_AMOUNT"] == 299.0  # customer c299's online row was used
    assert sample["model_version"] == "v1" and list(sample["features"]) == FRAUD_V1.feature_names
    assert sample["decision"] == (sample["score"] >= sample["threshold"])


def test_two_scorers_in_one_group_share_the_partitions(
    broker: Broker, tmp_path: Path, redis_url: str
) -> None:
    first = make_run(broker, tmp_path, redis_url)
    second = dataclasses.replace(first, instance="1", proc=None)
    first.start()
    second.start()
    events = featurized(20_000, CUSTOMERS, TERMINALS)
    produce_all(broker, first.features, events)
    predictions_of(broker, first.predictions, 20_000, timeout_s=120)
    owners = group_assignment(broker, f"{first.group}-{first.root.name}")
    first.alive()
    first.stop()  # a scale step down: the second scorer takes over partitions it never scored
    produce_all(broker, first.features, resent(events, 0.05, 3))
    drained(broker, second)
    preds = predictions_of(broker, first.predictions, 20_001, timeout_s=5)
    second.stop()
    per_tx = counts(preds)
    assert len(per_tx) == 20_000 and max(per_tx.values()) == 1, "one prediction each, copies included"
    assert len(owners) == 2, f"members: {owners}"
    assert sorted(p for parts in owners.values() for p in parts) == list(range(6))
    assert all(owners.values()), "each member owns partitions"


def group_assignment(broker: Broker, group: str, timeout_s: float = 60) -> dict[str, list[int]]:
    """Member → partitions, once the group is stable with two members."""
    from services.common.kafka.clients import make_admin

    admin = make_admin(broker.kafka)
    deadline = time.monotonic() + timeout_s
    owners: dict[str, list[int]] = {}
    while time.monotonic() < deadline:
        desc = admin.describe_consumer_groups([group])[group].result(10)
        owners = {
            m.member_id: sorted(tp.partition for tp in m.assignment.topic_partitions) for m in desc.members
        }
        if len(owners) == 2 and all(owners.values()):
            return owners
        time.sleep(0.5)
    return owners
