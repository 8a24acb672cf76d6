"""Composition root of features: settings → Feast repo, Delta, online store → the runner's stages."""

from __future__ import annotations

import functools
import logging
import socket
import threading
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from services.common.config import load_settings
from services.common.contracts import contracts_for, decoder_for
from services.common.errors import ConfigError
from services.common.feast.repo import apply, online_store_config
from services.common.feast_online_writers import open_writer
from services.common.health import HealthState
from services.common.kafka.changelog import ChangelogReader, create_internal_topics
from services.common.kafka.clients import make_admin, make_consumer, make_producer, wait_reachable
from services.common.kafka.decode import Decoder, json_object
from services.common.kafka.runner import Runner, RunnerConfig
from services.common.metrics import RunnerMetrics
from services.common.service import configure_logging, run_service, serve_health
from services.features.adapters.delta_rows import DeltaRows
from services.features.adapters.lake import LakeWriter
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.partitions import ConsumerOffsets
from services.features.adapters.sinks import FeatureSinks
from services.features.config import FeaturesSettings
from services.features.gate import StageTopics
from services.features.stages import FeatureStages
from services.features.transforms import view_engine

__all__ = ["main"]

log = logging.getLogger(__name__)


def _check_topics(settings: FeaturesSettings, *extra: str) -> dict[str, int]:
    """Every topic the service uses must exist; returns their partition counts."""
    wanted = [
        settings.clean_topic,
        *([settings.labels_topic] if settings.labels_topic else []),
        settings.features_topic,
        settings.dlq_topic,
        *extra,
    ]
    topics = make_admin(settings.kafka).list_topics(timeout=10).topics
    missing = [t for t in wanted if t not in topics or not topics[t].partitions]
    if missing:
        raise ConfigError(f"topics {', '.join(missing)} not found: run `rtloop topics apply`")
    return {t: len(topics[t].partitions) for t in wanted}


def _delta_rows(settings: FeaturesSettings, table: Path, writer: str = "") -> DeltaRows:
    return DeltaRows(
        table,
        f"{settings.group_id}{writer}-{table.name}",
        settings.lake_compact_every,
        log_retention_s=settings.lake_log_retention_minutes * 60,
    )


def main() -> None:
    """Run features until SIGTERM/SIGINT."""
    settings = load_settings(FeaturesSettings)
    configure_logging(settings.log_level)
    wait_reachable(settings.kafka)
    run_stages(settings)


def _lake_runner(settings: FeaturesSettings, sinks: FeatureSinks, metrics: FeaturesMetrics) -> Runner:
    """The Delta writer: its own consumer group on the features topic, a batch per lake interval."""
    declared = settings.declaration
    handler = LakeWriter(declared.features.views, sinks, declared.event_fields, metrics)
    config = RunnerConfig(
        service="features-lake",
        dlq_topic=settings.dlq_topic,
        max_batch_size=20_000,
        max_batch_wait_s=max(settings.lake_min_interval_ms, 20) / 1000,
        sync_commit=True,
    )
    return Runner(
        config,
        consumer=make_consumer(settings.kafka, settings.lake_group_id),
        producer=make_producer(settings.kafka),
        decoders={settings.features_topic: json_object},
        handler=handler,
        metrics=RunnerMetrics("features-lake"),
    )


def run_stages(settings: FeaturesSettings) -> None:
    """The stages on the shared runner (exactly once), the lake writer beside them in a thread."""
    declared = settings.declaration
    contracts, views = contracts_for(declared), declared.features.views
    inputs = [settings.clean_topic, *[settings.repartition_topic(v.name) for v in views[1:]]]
    changelogs = [settings.changelog_topic(v.name) for v in views]
    big = {"max.message.bytes": "8388608"}
    compact = big | {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "600000"}
    wanted = {t: big | {"retention.ms": "604800000"} for t in inputs[1:]} | dict.fromkeys(changelogs, compact)
    create_internal_topics(settings.kafka, settings.clean_topic, wanted, "features")
    counts = _check_topics(settings, *inputs[1:], *changelogs)
    apply(settings)
    writer = open_writer(online_store_config(settings), settings.feast_project)
    health, runner_metrics = HealthState(), RunnerMetrics("features")
    metrics = FeaturesMetrics(runner_metrics.registry)
    server = serve_health("features", settings, runner_metrics, health)
    online = [
        FeatureSinks(writer, [spec], [], declared.event.id, settings.verify_online)
        for spec in declared.feature_service.views
    ]
    topics = StageTopics(
        tuple(inputs),
        tuple(changelogs),
        settings.labels_topic,
        settings.features_topic,
        counts.get(settings.labels_topic, 0),
        tuple(counts[t] for t in inputs),
    )
    reader = ChangelogReader(settings.kafka)
    engines = [functools.partial(view_engine, declared, i, settings.lateness_days) for i in range(len(views))]
    stages = FeatureStages(
        engines,
        online,
        topics,
        reader,
        feature_service=settings.feature_service,
        contracts=contracts,
        label_wait_s=settings.label_wait_ms / 1000,
        metrics=metrics,
    )
    lake_tables = [_delta_rows(settings, settings.view_table(v), "-lake") for v in views]
    lake_sinks = FeatureSinks(writer, declared.feature_service.views, lake_tables, declared.event.id)
    lake = _lake_runner(settings, lake_sinks, metrics)
    lake_thread = threading.Thread(target=lake.run, name="features-lake", daemon=True)
    lake_thread.start()

    def assigned(consumer: Any, partitions: list[TopicPartition]) -> None:
        stages.offsets = stages.offsets or ConsumerOffsets(consumer)
        stages.assigned([(tp.topic, tp.partition) for tp in partitions])

    def revoked(_consumer: Any, partitions: list[TopicPartition]) -> None:
        stages.revoked([(tp.topic, tp.partition) for tp in partitions])

    decoders: dict[str, Decoder] = {settings.clean_topic: decoder_for(contracts.clean)}
    if settings.labels_topic and contracts.feedback is not None:
        decoders[settings.labels_topic] = decoder_for(contracts.feedback)
    decoders |= {topic: json_object for topic in inputs[1:]}
    try:
        run_service(
            "features",
            settings,
            decoders,
            stages,
            metrics=runner_metrics,
            health=health,
            server=server,
            transactional_id=settings.transactional_id or f"{settings.group_id}-{socket.gethostname()}",
            # a transaction left open by a killed process holds its partitions' readers back this long
            producer_overrides={"linger.ms": 5, "transaction.timeout.ms": 15_000},
            # a stage's input is the stage before's output: a fetch parked on the broker delays it
            consumer_overrides={"fetch.wait.max.ms": settings.fetch_max_wait_ms},
            on_committed=stages.committed,
            on_aborted=stages.rewind,
            on_assign=assigned,
            on_revoke=revoked,
            tick_s=0.1,
            eager=True,  # an event waits for no batch to fill
        )
    finally:
        lake.stop()
        lake_thread.join()
        lake_sinks.close()
        reader.close()
        log.info("features: closed")
