"""Composition root of features: settings → Feast repo, Delta, online store → Faust worker."""

from __future__ import annotations

import logging
from pathlib import Path

import faust

from services.common.config import load_settings
from services.common.errors import ConfigError
from services.common.feast_online_writers import open_writer
from services.common.feature_services import FRAUD_V1
from services.common.health import HealthServer, HealthState
from services.common.kafka.clients import make_admin, wait_reachable
from services.common.service import configure_logging, quiet_gc
from services.features.adapters.delta_rows import DeltaRows
from services.features.adapters.feast_repo import apply, online_store_config
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.sinks import FeatureSinks
from services.features.adapters.stream import build_app
from services.features.config import FeaturesSettings
from services.features.transforms import EVENT_FIELDS

__all__ = ["main"]

log = logging.getLogger(__name__)


def _check_topics(settings: FeaturesSettings) -> int:
    """Every topic the service uses must exist; returns the partitions of the clean topic."""
    wanted = [settings.clean_topic, settings.labels_topic, settings.features_topic, settings.dlq_topic]
    topics = make_admin(settings.kafka).list_topics(timeout=10).topics
    missing = [t for t in wanted if t not in topics or not topics[t].partitions]
    if missing:
        raise ConfigError(f"topics {', '.join(missing)} not found: run `rtloop topics apply`")
    return len(topics[settings.clean_topic].partitions)


def _delta_rows(settings: FeaturesSettings, table: Path) -> DeltaRows:
    return DeltaRows(
        table,
        f"{settings.group_id}-{table.name}",
        settings.lake_compact_every,
        log_retention_s=settings.lake_log_retention_minutes * 60,
    )


def main() -> None:
    """Run features until SIGTERM/SIGINT."""
    settings = load_settings(FeaturesSettings)
    configure_logging(settings.log_level)
    wait_reachable(settings.kafka)
    partitions = _check_topics(settings)
    apply(settings)  # idempotent: the service never runs against a stale registry
    sinks = FeatureSinks(
        open_writer(online_store_config(settings), settings.feast_project),
        FRAUD_V1.views,
        [_delta_rows(settings, settings.customer_table), _delta_rows(settings, settings.terminal_table)],
        EVENT_FIELDS.id,
        read_back=settings.verify_online,
    )
    health, metrics = HealthState(), FeaturesMetrics()
    server = HealthServer(health, metrics.registry, settings.health_host, settings.health_port).start()
    log.info("features: health and metrics on http://%s:%d", settings.health_host, server.port)

    def ready() -> None:
        health.ready, health.detail = True, "partitions assigned"
        health.beat()

    app = build_app(settings, partitions, sinks, metrics, ready)

    @app.timer(1.0)
    async def heartbeat() -> None:
        health.beat()

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, override_logging=False)
    quiet_gc()  # full collections walked every import's objects: 150 ms pauses every few seconds
    try:
        worker.execute_from_commandline()
    finally:
        sinks.close()
        server.stop()
        log.info("features: closed")
