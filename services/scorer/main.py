"""Composition root of the scorer: settings → online reader, model watcher → handler → exactly-once runner."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime

from services.common.config import load_settings
from services.common.contracts import AlertV1, ModelVersionV1, encode
from services.common.errors import ConfigError
from services.common.feast_online import open_reader
from services.common.feature_services import online_store_config
from services.common.health import HealthState
from services.common.kafka.changelog import ChangelogReader, create_internal_topics
from services.common.kafka.clients import make_producer, wait_reachable
from services.common.kafka.seen import SeenIds
from services.common.metrics import RunnerMetrics
from services.common.registry import ModelRejected
from services.common.service import configure_logging, run_service, serve_health
from services.common.signing import signing_key
from services.scorer.adapters.lookup import ListLookup, OnlineLookup
from services.scorer.adapters.metrics import ScorerMetrics
from services.scorer.adapters.models_topic import ModelWatcher, Refusal
from services.scorer.adapters.onnx_runtime import Served, load_model, load_ranking_model
from services.scorer.config import ScorerSettings
from services.scorer.core import score
from services.scorer.handlers import ScoreHandler
from services.scorer.ranking import recommend
from services.scorer.transforms import featurized_parser, request_fields

__all__ = ["main"]

log = logging.getLogger(__name__)


def _alerting(settings: ScorerSettings, metrics: ScorerMetrics) -> Refusal:
    producer = make_producer(settings.kafka)

    def refuse(version: ModelVersionV1 | None, exc: ModelRejected) -> None:
        metrics.refused.labels(exc.reason).inc()
        alert = AlertV1(
            alert_id=uuid.uuid4().hex,
            kind="model",
            severity="critical",
            message=f"model refused ({exc.reason}): {exc}; the serving model keeps serving",
            model_name=version.name if version else settings.model_name,
            model_version=version.version if version else None,
            metrics={},
            raised_at=datetime.now(UTC),
        )
        producer.produce(settings.alerts_topic, value=encode(alert), key=b"model")
        producer.flush(10)

    return refuse


def _first_model(
    watcher: ModelWatcher, settings: ScorerSettings, health: HealthState
) -> dict[str, Served | None]:
    """Block until the models topic was read and a production model is loaded."""
    started, warned = time.monotonic(), False
    models: dict[str, Served | None] = {}
    while True:
        if watcher.caught_up.is_set():
            models |= watcher.take()
            if models.get("production") is not None:
                return models
            if not warned:
                log.warning(
                    "no production model %r on %r yet: train one with `rtloop train` (waiting)",
                    settings.model_name,
                    settings.models_topic,
                )
                warned = True
        health.beat()
        health.detail = f"waiting for a production model {settings.model_name!r}"
        if settings.model_wait_s and time.monotonic() - started > settings.model_wait_s:
            raise ConfigError(
                f"no production model {settings.model_name!r} within {settings.model_wait_s:.0f}s"
            )
        if not watcher.is_alive():
            raise ConfigError(f"cannot read the models topic {settings.models_topic!r}: see the log above")
        time.sleep(0.2)


def main() -> None:
    """Run the scorer until SIGTERM/SIGINT."""
    settings = load_settings(ScorerSettings)
    configure_logging(settings.log_level)
    service = settings.declaration.feature_service
    if settings.feature_service != service.name:
        raise ConfigError(
            f"SCORER_FEATURE_SERVICE: use case {settings.usecase!r} declares only {service.name!r}"
        )
    ranking = settings.declaration.model.ranking
    inputs = service.feature_names if ranking is None else [ranking.recent, ranking.seen]
    key = signing_key(settings.model_signing_key, settings.model_signing_key_file)
    wait_reachable(settings.kafka)
    health, runner_metrics = HealthState(), RunnerMetrics("scorer")
    metrics = ScorerMetrics(runner_metrics.registry)
    server = serve_health("scorer", settings, runner_metrics, health)
    watcher = ModelWatcher(
        settings.kafka,
        settings.models_topic,
        settings.model_name,
        inputs,
        settings.providers,
        _alerting(settings, metrics),
        key,
        settings.intra_op_threads,
        load_model if ranking is None else load_ranking_model,
    )
    watcher.start()
    models = _first_model(watcher, settings, health)
    production = models["production"]
    assert production is not None
    reader = open_reader(online_store_config(settings.redis_url, settings.feast_data), settings.feast_project)
    window = str(int(settings.dedupe_window_s * 1000))
    create_internal_topics(
        settings.kafka, settings.features_topic, {settings.seen_topic: {"retention.ms": window}}, "scorer"
    )
    restore = ChangelogReader(settings.kafka)
    seen = SeenIds(
        settings.seen_topic,
        restore.records,
        window_s=settings.dedupe_window_s,
        per_partition=settings.dedupe_ids_per_partition,
    )
    metrics.dedupe_ids.set_function(seen.size)
    metrics.dedupe_window.set_function(seen.span_s)
    fields = request_fields(settings.declaration)
    handler = ScoreHandler(
        OnlineLookup(reader, service) if ranking is None else ListLookup(reader, service.views[0], inputs),
        production,
        watcher.take,
        settings.predictions_topic,
        seen,
        metrics,
        fields,
        shadow=models.get("shadow"),
        chunk=settings.lookup_chunk,
        missing_wait_s=settings.missing_inputs_wait_s,
        core=score if ranking is None else recommend,
    )
    tid = settings.transactional_id_or_default
    log.info("scorer: exactly once with transactional.id %s", tid)
    try:
        run_service(
            "scorer",
            settings,
            {settings.features_topic: featurized_parser(fields)},
            handler,
            metrics=runner_metrics,
            health=health,
            server=server,
            transactional_id=tid,
            # each transaction flushes at its end, so lingering costs no latency; it makes fewer, larger
            # produce requests while a batch is produced (≈ +15% events/s measured side by side vs 5 ms)
            producer_overrides={"transaction.timeout.ms": settings.transaction_timeout_ms, "linger.ms": 100},
            on_committed=seen.committed,
            on_aborted=seen.aborted,
            on_assign=lambda _c, parts: seen.assigned(tp.partition for tp in parts),
            on_revoke=lambda _c, parts: seen.revoked(tp.partition for tp in parts),
            eager=True,  # an event waits for no batch to fill
        )
    finally:
        watcher.stop()
        reader.close()
        restore.close()
