"""Composition root of the training job: settings → history and labels (or a ranking model's sequences)
→ candidates → gate → publish."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pandas as pd

from services.common.errors import ConfigError
from services.common.evaluation import evaluation_for
from services.common.feast.settings import FeatureStoreSettings
from services.common.registry import Registry
from services.common.signing import signing_key
from services.training.adapters.kafka_io import load_labels, publish_version
from services.training.config import TrainSettings
from services.training.job import (
    Datasets,
    Judging,
    Report,
    Step,
    choose,
    evaluate_production,
    holdout,
    labelled,
    scored_metrics,
    train_candidates,
    windows,
)
from services.training.ranking_job import ranking_outcomes

__all__ = ["judging_for", "load_datasets", "run_training"]

log = logging.getLogger(__name__)


def judging_for(settings: TrainSettings) -> Judging:
    """The use case's evaluation (ConfigError when the gate metric is not one of its metrics), the gate
    and the threshold the decision fixes, if any."""
    declared = settings.declaration
    evaluation = evaluation_for(declared)
    evaluation.require([settings.gate_metric], "TRAIN_GATE_METRIC")
    return Judging(evaluation, settings.gate_metric, settings.gate_margin, declared.decision.value)


def _both_classes(frame: pd.DataFrame, what: str, hint: str) -> None:
    if frame.empty or frame["target"].nunique() < 2:
        raise ConfigError(f"no labelled {what} data with both classes: {hint}")


def load_datasets(
    settings: TrainSettings,
    features: FeatureStoreSettings,
    judging: Judging,
    start: datetime,
    end: datetime,
    step: Step,
) -> Datasets:
    """Point-in-time inputs from the features history, labels from the feedback topic, split as the
    protocol says: a delayed window, the training window's newest share, or no test rows."""
    from services.common.feast.history import training_set
    from services.common.feast.repo import apply

    delayed = settings.protocol == "delayed"
    test_start, test_end = windows(start, end, settings.delay_days)  # ConfigError unless start < end
    if not delayed:
        test_start, test_end = end, end
    declared = features.declaration
    names, ident, key = declared.feature_service.feature_names, declared.event.id, declared.event.key
    step("Feast point-in-time join over the Delta feature tables")
    store = apply(features)
    step(f"labels from the {settings.labels_topic!r} topic")
    feedback = declared.labels
    if feedback is None:
        raise ConfigError(
            f"use case {declared.name!r}: its feedback is the next event, and only a ranking model "
            "learns from it (model.output: ranking)"
        )
    fields = (feedback.id, key, feedback.time, feedback.target)
    labels = load_labels(settings.kafka, settings.labels_topic, fields, start, test_end)
    train = labelled(training_set(store, features, start, end).frame, labels, names, ident, key)
    span = f"{start:%Y-%m-%d} .. {end - timedelta(days=1):%Y-%m-%d}"
    _both_classes(
        train, "training", f"replay {span} (and its labels) through ingest and features (make demo)"
    )
    test, train_end = train.iloc[:0], end
    if delayed:
        test = labelled(training_set(store, features, test_start, test_end).frame, labels, names, ident, key)
        last = test_end - timedelta(days=1)
        _both_classes(
            test,
            "test",
            f"the delayed protocol tests on {test_start:%Y-%m-%d} .. {last:%Y-%m-%d}: replay through it, "
            "or train with --protocol holdout (or none)",
        )
    elif settings.protocol == "holdout":
        train, test, train_end = holdout(train, settings.holdout)
        test_start = train_end
        _both_classes(test, "holdout", f"raise TRAIN_HOLDOUT, or train on a longer window than {span}")
    if len(test):  # the use case's test-set rule (fraud's: known-compromised cards out, HANDBOOK §3)
        test = judging.evaluation.test_set(test, labels, start.date(), train_end.date(), settings.delay_days)
    return Datasets(train, test, names, start, end, test_start, test_end)


def run_training(
    settings: TrainSettings, features: FeatureStoreSettings, start: datetime, end: datetime, step: Step
) -> Report:
    """Train, evaluate and register every candidate; promote and publish the winner if it beats production."""
    judging = judging_for(settings)
    registry = Registry(settings.registry_root)
    report = Report(judging)
    if features.declaration.model.ranking is not None:
        report.outcomes, report.production_before = ranking_outcomes(
            settings, features, judging, registry, (start, end), step
        )
    else:
        data = load_datasets(settings, features, judging, start, end, step)
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
        report.production_before = evaluate_production(
            registry, settings.model_name, data.features, scored_metrics(data, judging)
        )
    winner, report.reason = choose(report.outcomes, report.production_before, judging)
    if winner is not None and winner.version is not None:
        promoted = registry.set_stage(settings.model_name, winner.version.version, "production")
        step(f"publishing {promoted.name} {promoted.version} to {settings.models_topic!r}")
        key = signing_key(settings.model_signing_key, settings.model_signing_key_file, create=True)
        publish_version(settings.kafka, settings.models_topic, promoted, key)
        report.promoted = promoted
    log.info("%s", report.reason)
    return report
