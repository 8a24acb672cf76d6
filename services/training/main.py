"""Composition root of the training job: settings → history and labels → candidates → gate → publish."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from services.common.errors import ConfigError
from services.common.evaluation import evaluation_for
from services.common.registry import Registry
from services.features.config import FeaturesSettings
from services.training.adapters.kafka_io import load_labels, publish_version
from services.training.config import TrainSettings
from services.training.job import (
    Datasets,
    Judging,
    Report,
    Step,
    choose,
    evaluate_production,
    labelled,
    test_frame,
    train_candidates,
    windows,
)

__all__ = ["judging_for", "load_datasets", "run_training"]

log = logging.getLogger(__name__)


def judging_for(settings: TrainSettings) -> Judging:
    """The use case's evaluation (ConfigError when the gate metric is not one of its metrics) and the
    threshold its decision fixes, if any."""
    declared = settings.declaration
    evaluation = evaluation_for(declared)
    evaluation.require([settings.gate_metric], "TRAIN_GATE_METRIC")
    return Judging(evaluation, declared.decision.value)


def load_datasets(
    settings: TrainSettings,
    features: FeaturesSettings,
    judging: Judging,
    start: datetime,
    end: datetime,
    step: Step,
) -> Datasets:
    """Point-in-time inputs of both windows from the features history, labels from the labels topic."""
    from services.features.adapters.feast_repo import apply
    from services.features.history import training_set

    test_start, test_end = windows(start, end, settings.delay_days)
    declared = features.declaration
    names, ident, key = declared.feature_service.feature_names, declared.event.id, declared.event.key
    step("Feast point-in-time join over the Delta feature tables")
    store = apply(features)
    train_hist = training_set(store, features, start, end).frame
    test_hist = training_set(store, features, test_start, test_end).frame
    step(f"labels from the {settings.labels_topic!r} topic")
    feedback = declared.feedback
    fields = (feedback.id, key, feedback.time, feedback.target)
    labels = load_labels(settings.kafka, settings.labels_topic, fields, start, test_end)
    train = labelled(train_hist, labels, names, ident, key)
    if train.empty or train["target"].nunique() < 2:
        raise ConfigError(
            f"no labelled training data with both classes in {start:%Y-%m-%d} .. {end:%Y-%m-%d}: replay "
            "those days (and their labels, D days later) through ingest and features first (make demo)"
        )
    test = test_frame(
        labelled(test_hist, labels, names, ident, key),
        labels,
        judging.evaluation,
        start,
        end,
        settings.delay_days,
    )
    if test.empty or test["target"].nunique() < 2:
        raise ConfigError(
            f"no labelled test data with both classes in {test_start:%Y-%m-%d} .. "
            f"{test_end - timedelta(days=1):%Y-%m-%d}: replay through the end of the test window first"
        )
    return Datasets(train, test, names, start, end, test_start, test_end)


def run_training(
    settings: TrainSettings, features: FeaturesSettings, start: datetime, end: datetime, step: Step
) -> Report:
    """Train, evaluate and register every candidate; promote and publish the winner if it beats production."""
    judging = judging_for(settings)
    data = load_datasets(settings, features, judging, start, end, step)
    registry = Registry(settings.registry_root)
    report = Report()
    report.outcomes = train_candidates(
        data,
        list(settings.candidates),
        registry,
        settings.model_name,
        judging,
        settings.parity_tolerance,
        settings.seed,
        step,
    )
    step("current production model on the same test set")
    report.production_before = evaluate_production(registry, settings.model_name, data, judging)
    winner, report.reason = choose(report.outcomes, report.production_before, settings.gate_metric)
    if winner is not None and winner.version is not None:
        promoted = registry.set_stage(settings.model_name, winner.version.version, "production")
        step(f"publishing {promoted.name} {promoted.version} to {settings.models_topic!r}")
        publish_version(settings.kafka, settings.models_topic, promoted)
        report.promoted = promoted
    log.info("%s", report.reason)
    return report
