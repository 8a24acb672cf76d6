"""Training from the features history of a 40-day slice: evaluation, export, registry, the models
topic, and the promotion gate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from services.common.drift import Reference
from services.common.errors import ConfigError
from services.common.kafka.scan import scan_topic
from services.common.registry import Registry
from services.training.main import run_training
from tests.integration.scorer.conftest import TRAIN, Trained
from tests.kafka_helpers import Broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_training_evaluates_exports_registers_and_publishes(broker: Broker, trained: Trained) -> None:
    report = trained.report
    assert [o.kind for o in report.outcomes] == ["logreg", "lgbm", "mlp"]
    for o in report.outcomes:
        assert o.error is None and o.metrics is not None and o.version is not None, o
        assert o.parity is not None and o.parity <= 1e-5
        assert o.metrics["auc_roc"] > 0.75, f"{o.kind} learned nothing: {o.metrics}"
        registry = Registry(trained.settings.registry_root)
        card = registry.card("fraud", o.version.version)
        assert card["features"] == o.version.features and len(card["sha256"]) == 64
        assert card["data_window"]["train"][0].startswith("2018-04-18")
        reference = registry.reference("fraud", o.version.version)  # the monitor's drift reference
        assert reference is not None and "training window 2018-04-18" in reference["inputs"]["source"]
        assert Reference.from_dict(reference["inputs"]).names == card["features"]
        assert Reference.from_dict(reference["score"]).rows == card["data_window"]["train_events"]
    assert report.promoted is not None and report.production_before is None
    published = [orjson.loads(m.value()) for m in scan_topic(broker.kafka, trained.settings.models_topic)]
    assert published[-1]["version"] == report.promoted.version and published[-1]["stage"] == "production"


def test_the_gate_keeps_production_when_no_candidate_beats_it(trained: Trained) -> None:
    again = run_training(
        trained.settings.model_copy(update={"candidates": ["logreg"]}), trained.features, *TRAIN, print
    )
    assert again.production_before is not None and again.production_before.metrics is not None
    assert again.promoted is None and "kept production" in again.reason


def test_the_last_replayed_week_trains_with_a_holdout_or_without_an_evaluation(
    broker: Broker, trained: Trained, tmp_path: Path
) -> None:
    last = (datetime(2018, 5, 2, tzinfo=UTC), datetime(2018, 5, 9, tzinfo=UTC))  # nothing replayed after
    models = broker.topic("models", 1, **{"cleanup.policy": "compact"})  # the other tests' stays as it is
    own = {"candidates": ["logreg"], "registry_root": tmp_path, "models_topic": models}
    only = trained.settings.model_copy(update=own)
    with pytest.raises(ConfigError, match="--protocol holdout"):
        run_training(only, trained.features, *last, print)  # fraud's declared protocol: delayed
    held = run_training(only.model_copy(update={"protocol": "holdout"}), trained.features, *last, print)
    (outcome,) = held.outcomes
    assert outcome.metrics is not None and outcome.metrics["auc_roc"] > 0.75, outcome
    assert outcome.version is not None
    train_events = Registry(tmp_path).card("fraud", outcome.version.version)["data_window"]["train_events"]
    share = outcome.metrics.events / (outcome.metrics.events + train_events)
    assert 0.1 < share <= 0.21, "tested on the newest 20% (less the cards known to be compromised)"
    assert held.promoted is not None, "the first model of this registry"
    blind = run_training(only.model_copy(update={"protocol": "none"}), trained.features, *last, print)
    assert blind.outcomes[0].metrics is None and blind.outcomes[0].version is not None
    assert blind.promoted is None and "no evaluation" in blind.reason, "production is not replaced blind"
