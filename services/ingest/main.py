"""Composition root of ingest: settings → Spark → two streaming queries, health and metrics."""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka.admin import ConfigResource
from pyspark.sql.streaming.query import StreamingQuery

from services.common.config import load_settings
from services.common.health import HealthServer, HealthState
from services.common.kafka.clients import make_admin, wait_reachable
from services.common.service import configure_logging
from services.ingest.adapters.delta import LakeWriter, align_log_retention, writer_identity
from services.ingest.adapters.progress import IngestMetrics
from services.ingest.adapters.queries import start_clean_query, start_lake_query
from services.ingest.adapters.spark import build_session, read_raw, resolve_master
from services.ingest.config import IngestSettings
from services.ingest.handlers import clean_path, lake_path
from services.ingest.transforms import window_against_retention

__all__ = ["main"]

log = logging.getLogger(__name__)


def _partitions(settings: IngestSettings) -> int:
    """The raw topic's partition count; its retention checked against the de-duplication window."""
    admin = make_admin(settings.kafka)
    topics = admin.list_topics(settings.raw_topic, timeout=10).topics
    meta = topics.get(settings.raw_topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise SystemExit(f"ingest: topic {settings.raw_topic} not found: run `rtloop topics apply`")
    resource = ConfigResource(ConfigResource.Type.TOPIC, settings.raw_topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    warning = window_against_retention(
        settings.dedup_watermark, settings.raw_topic, int(configs["retention.ms"].value)
    )
    if warning:
        log.warning("ingest: %s", warning)
    return len(meta.partitions)


# Spark 4.1.1 (SPARK-55271 / SPARK-57438): progress reporting of the batch re-run after a restart
# from a checkpoint throws this NPE once the batch is done; restarting the query gets past it.
_KNOWN_SPARK_NPE = re.compile(
    r"KafkaMicroBatchStream\$?\.metrics"
    r"|Cannot invoke \"scala\.collection\.IterableOps\.map\(scala\.Function1\)\" "
    r"because the return value of \"scala\.Option\.get\(\)\" is null"
)
_MAX_RESTARTS = 3
# Spark's Kafka source with failOnDataLoss=true, when offsets it was to read are gone
_DATA_LOSS = re.compile(r"data (may have been|was) lost|failOnDataLoss|not available in Kafka any more", re.I)


def _supervise(
    queries: dict[str, StreamingQuery],
    starters: dict[str, Callable[[], StreamingQuery]],
    restarts: dict[str, int],
    topic: str,
) -> None:
    """Restart a query that died of the known Spark NPE; any other failure stops the service (a gap in
    `topic` that retention made with a message saying what to do)."""
    for name, query in list(queries.items()):
        if query.isActive:
            continue
        error = query.exception()
        trace = "" if error is None else f"{error}\n{getattr(error, '_stackTrace', '')}"
        if _KNOWN_SPARK_NPE.search(trace) and restarts[name] < _MAX_RESTARTS:
            restarts[name] += 1
            log.warning(
                "ingest: %s hit Spark's Kafka metrics NPE after a restart (SPARK-55271); "
                "restarting it (%d/%d)",
                name,
                restarts[name],
                _MAX_RESTARTS,
            )
            queries[name] = starters[name]()
            continue
        first = str(error or "no error").strip().splitlines()[0][:500]
        if _DATA_LOSS.search(trace):
            raise SystemExit(
                f"ingest: query {query.name} stopped: records of {topic} were deleted (retention) "
                "before ingest read them, and are lost to the lake and the stream (Spark's log above names "
                "the offsets). To go on past the gap, start once with INGEST_ALLOW_DATA_LOSS=true; to avoid "
                "it, keep the topic longer than ingest can be down"
            )
        raise SystemExit(f"ingest: query {query.name} stopped: {first}")


def main() -> None:
    """Run ingest until SIGTERM/SIGINT."""
    settings = load_settings(IngestSettings)
    configure_logging(settings.log_level)
    wait_reachable(settings.kafka)
    master = resolve_master(settings.spark_master, _partitions(settings), settings.realtime_clean)
    spark = build_session(settings, master)
    health, metrics = HealthState(), IngestMetrics()
    server = HealthServer(health, metrics.registry, settings.health_host, settings.health_port).start()
    log.info("ingest: health and metrics on http://%s:%d", settings.health_host, server.port)
    table = settings.declaration.event.table
    events, rejected = settings.table(table), settings.table(f"{table}_rejected")
    align_log_retention(spark, [events, rejected], settings.lake_log_retention)
    writer = LakeWriter(events, rejected, writer_identity(settings.checkpoints / "lake"))
    starters: dict[str, Callable[[], StreamingQuery]] = {
        "clean": lambda: start_clean_query(spark, clean_path(read_raw(spark, settings), settings), settings),
        "lake": lambda: start_lake_query(
            lake_path(
                read_raw(spark, settings, maxOffsetsPerTrigger=settings.lake_max_offsets_per_trigger),
                settings,
            ),
            settings,
            writer,
        ),
    }
    queries = {name: start() for name, start in starters.items() if name in settings.query_names}
    restarts = dict.fromkeys(queries, 0)
    log.info(
        "ingest: running %s; clean path in %s mode, lake path every %s; master %s",
        " and ".join(sorted(queries)),
        settings.clean_mode,
        settings.lake_trigger,
        master,
    )
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    health.ready, health.detail = True, "queries running"
    try:
        while not stop.is_set():
            health.beat()
            metrics.observe(queries)
            _supervise(queries, starters, restarts, settings.raw_topic)
            stop.wait(1.0)
    finally:
        health.ready, health.detail = False, "stopping"
        for query in reversed(list(queries.values())):
            query.stop()
        spark.stop()
        server.stop()
        log.info("ingest: closed")
