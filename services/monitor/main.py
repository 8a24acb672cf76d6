"""Composition root of the monitor: settings → state from its changelog → handler → exactly-once runner."""

from __future__ import annotations

import functools
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import Gauge
from pydantic import ValidationError

from services.common.config import load_settings
from services.common.contracts import AlertV1, contracts_for
from services.common.errors import ConfigError
from services.common.health import HealthState
from services.common.kafka.clients import wait_reachable
from services.common.kafka.scan import scan_topic
from services.common.metrics import RunnerMetrics
from services.common.registry import Registry
from services.common.service import configure_logging, run_service, serve_health
from services.common.usecase import UseCase
from services.common.usecase.schema import NextEventSpec
from services.monitor.adapters.references import References
from services.monitor.adapters.reports import PENDING, ReportWriter
from services.monitor.alerting import Alerting
from services.monitor.config import MonitorSettings
from services.monitor.handlers import MonitorHandler, Topics
from services.monitor.page import PLOTLY_PATH, PageData, render
from services.monitor.ranking import InteractionFields, parse_interaction, parse_recommendation
from services.monitor.state import MonitorState
from services.monitor.transforms import (
    FeedbackFields,
    PredictionFields,
    inputs_getter,
    parse_label,
    parse_prediction,
)

__all__ = ["main", "restore_state"]

log = logging.getLogger(__name__)
Pages = Callable[[str], tuple[str, bytes] | None]
WRITING = b"<!doctype html><title>report</title><p>This report is being written: reload in a few seconds."


def restore_state(settings: MonitorSettings) -> MonitorState:
    """The committed state: the changelog read to its end (latest value per key, tombstones dropped)."""
    state = MonitorState(
        settings.label_ttl_days * 86_400,
        Alerting(settings.raise_after, settings.clear_after),
        settings.max_join_entries,
    )
    records: dict[str, bytes] = {}
    for msg in scan_topic(settings.kafka, settings.state_topic, idle_timeout_s=5.0):
        key, value = (msg.key() or b"").decode(), msg.value()
        if value is None:
            records.pop(key, None)
        else:
            records[key] = value
    state.restore(records)
    log.info(
        "monitor state: window %d, %d predictions waiting for labels, %d labels waiting",
        state.window.index,
        len(state.joins.waiting),
        len(state.joins.early),
    )
    return state


def _recent_alerts(settings: MonitorSettings) -> list[AlertV1]:
    """The alerts already published (the page lists them after a restart too)."""
    found = []
    for msg in scan_topic(settings.kafka, settings.alerts_topic, idle_timeout_s=2.0):
        try:
            found.append(AlertV1.model_validate_json(msg.value() or b""))
        except ValidationError:
            continue
    return found[-200:]


def _reference(registry: Registry, name: str, version: str | None) -> dict[str, float]:
    """The model card's metrics on its test rows (what training measured), or none."""
    try:
        metrics = registry.card(name, version).get("metrics", {}) if version else {}
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}


def _pages(settings: MonitorSettings, handler: MonitorHandler, metrics: RunnerMetrics) -> Pages:
    """`/`: the page; `/plotly.min.js`: its charts' script (Plotly's own copy, no network); `/reports/<file>`:
    a saved Evidently report."""
    import plotly

    script = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    registry = Registry(settings.registry_root)

    def serve(path: str) -> tuple[str, bytes] | None:
        if path == "/":
            windows = list(handler.history)
            recent = windows[-6:]
            span = recent[-1].closed_at - recent[0].closed_at if len(recent) > 1 else 0.0
            rate = sum(w.count for w in recent[1:]) / span if span > 0 else 0.0
            version = windows[-1].model_version if windows else None
            lag = sum(int(s.value) for m in metrics.lag.collect() for s in m.samples)
            page = PageData(
                f"{settings.model_name} {version or '(no window closed yet)'}",
                windows,
                list(handler.alerts),
                lag,
                rate,
                settings.drift_threshold,
                _reference(registry, settings.model_name, version),
            )
            return "text/html; charset=utf-8", render(page).encode()
        if path == PLOTLY_PATH:
            return "text/javascript; charset=utf-8", script.read_bytes()
        if path.startswith("/reports/"):
            report = settings.reports_dir / Path(path).name
            if report.suffix == ".html" and report.is_file():
                return "text/html; charset=utf-8", report.read_bytes()
            if (settings.reports_dir / (report.stem + PENDING)).is_file():
                return "text/html; charset=utf-8", WRITING

        return None

    return serve


def _join_figure(handler: MonitorHandler, what: str) -> float:
    joins = handler.state.joins  # the state is replaced when a transaction aborts
    return float(len(joins) if what == "entries" else joins.evicted)


def _decoders(declared: UseCase) -> tuple[tuple[Callable[[bytes], Any], Callable[[bytes], Any]], list[str]]:
    """How predictions and feedback are read, and the inputs a prediction carries: a probability model's
    predictions and labels; a ranking model's recommendations and the events that answer them."""
    predicted = PredictionFields(declared.event.id, declared.event.key, declared.event.time)
    if isinstance(declared.feedback, NextEventSpec):
        if declared.model.ranking is None:
            raise ConfigError(
                f"use case {declared.name!r}: next-event feedback monitors a ranking model only"
            )
        answers = InteractionFields(*predicted, declared.feedback.truth)
        return (
            functools.partial(parse_recommendation, fields=predicted),
            functools.partial(parse_interaction, fields=answers),
        ), []
    labels, contracts = declared.feedback, contracts_for(declared)
    assert contracts.feedback_time is not None  # labels have their own time
    names = declared.feature_service.feature_names
    feedback = FeedbackFields(labels.id, labels.target, labels.time, contracts.feedback_time)
    return (
        functools.partial(parse_prediction, fields=predicted, names=names, getter=inputs_getter(names)),
        functools.partial(parse_label, fields=feedback),
    ), names


def main() -> None:
    """Run the monitor until SIGTERM/SIGINT."""
    settings = load_settings(MonitorSettings)
    configure_logging(settings.log_level)
    wait_reachable(settings.kafka)
    health, metrics = HealthState(), RunnerMetrics("monitor")
    routes: dict[str, Pages] = {}  # the page needs the handler, the endpoint starts before it exists
    server = serve_health(
        "monitor", settings, metrics, health, lambda path: routes["page"](path) if routes else None
    )
    declared = settings.declaration
    decoders, names = _decoders(declared)
    topics = Topics(
        settings.predictions_topic,
        settings.labels_topic,
        settings.dlq_topic,
        settings.alerts_topic,
        settings.state_topic,
    )
    references = References(
        settings.kafka, settings.models_topic, Registry(settings.registry_root), settings.model_name
    )
    references.start()
    reports = ReportWriter(settings.reports_dir)  # Evidently in a worker process, warmed up now
    handler = MonitorHandler(
        restore_state(settings),
        topics,
        settings.window_size,
        settings.checks,
        references.current,
        functools.partial(restore_state, settings),
        names,
        report=reports,
        model_name=settings.model_name,
        window_seconds=settings.window_seconds,
    )
    handler.alerts.extend(_recent_alerts(settings))
    routes["page"] = _pages(settings, handler, metrics)
    join = {"entries": "held by the label join", "evicted": "left the join over its bound, without a label"}
    for what, meaning in join.items():
        gauge = Gauge(
            f"rtloop_monitor_join_{what}", f"Predictions and labels {meaning}", registry=metrics.registry
        )
        gauge.set_function(functools.partial(_join_figure, handler, what))
    references.caught_up.wait(30)
    try:
        run_service(
            "monitor",
            settings,
            {
                topics.predictions: decoders[0],
                topics.labels: decoders[1],
                topics.dead_letters: bytes,  # counted, never decoded: nothing here can fail
            },
            handler,
            metrics=metrics,
            health=health,
            server=server,
            transactional_id=settings.transactional_id or f"{settings.group_id}-{socket.gethostname()}",
            producer_overrides={"linger.ms": 100},
            on_aborted=handler.rewind,
        )
    finally:
        references.stop()
        reports.close()
