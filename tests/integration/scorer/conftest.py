"""The scorer package's shared fixture: the fraud model trained once on the features history of the
40-day slice (for the training, gate and quality tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.features.config import FeaturesSettings
from services.training.config import TrainSettings
from services.training.job import Report
from services.training.main import run_training
from tests.features_helpers import batch_features, compare
from tests.integration.conftest import PARTITIONS, History, Slice
from tests.kafka_helpers import Broker
from tests.scorer_helpers import ScorerRun
from usecases.fraud import FRAUD_V1

TRAIN = (datetime(2018, 4, 18, tzinfo=UTC), datetime(2018, 4, 25, tzinfo=UTC))  # test: May 2 .. 8
NAMES = FRAUD_V1.feature_names


@dataclass
class Trained:
    report: Report
    settings: TrainSettings
    features: FeaturesSettings


@pytest.fixture(scope="package")
def trained(
    broker: Broker, cleaned: Slice, history: History, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Trained:
    settings = TrainSettings(
        registry_root=tmp_path_factory.mktemp("registry"),
        labels_topic=cleaned.labels,
        models_topic=broker.topic("models", 1, **{"cleanup.policy": "compact"}),
        kafka=broker.kafka,
    )
    fs = FeaturesSettings(
        lake_root=cleaned.root / "lake", feast_data=cleaned.root / "feast", redis_url=redis_url
    )
    steps: list[str] = []
    report = run_training(settings, fs, *TRAIN, steps.append)
    assert steps, "progress was reported"
    return Trained(report, settings, fs)


def scorer_of(
    broker: Broker, features: str, trained: Trained, root: Path, redis_url: str, group: str = "scorer"
) -> ScorerRun:
    """A scorer of the trained production model over `features`, with topics of its own."""
    return ScorerRun(
        broker,
        features,
        broker.topic("predictions", PARTITIONS),
        trained.settings.models_topic,
        broker.topic("alerts", 1),
        broker.topic("dlq", 1),
        root,
        "rtloop",
        redis_url,
        group=group,
    )


def assert_own_inputs(cleaned: Slice, preds: list[dict[str, Any]]) -> None:
    """Every prediction's inputs are the batch definitions of its transaction (as the model's float32)."""
    vectors = {p["tx_id"]: p["features"] for p in preds}
    problems = compare(batch_features(cleaned.table), vectors, rtol=1e-6)
    assert not problems, f"{len(problems)} inputs that are not the transaction's own, e.g. {problems[:3]}"
