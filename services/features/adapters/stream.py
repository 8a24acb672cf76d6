"""The Faust application: two agents (labels, transactions) over changelogged state tables."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, cast

import faust
import mode
from faust.types import TP

from services.common.kafka.clients import make_producer
from services.features.adapters.backfill import KafkaBackfill
from services.features.adapters.changelog import ChangelogSink, KeyHashedTable
from services.features.adapters.fetch import bounded_fetch_transport
from services.features.adapters.gate import LabelGate
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.order import OffsetOrder
from services.features.adapters.pipeline import Outputs, Pipeline, producer_for
from services.features.adapters.process import Processing
from services.features.adapters.sinks import FeatureSinks
from services.features.config import FeaturesSettings
from services.features.handlers import FeatureEngine
from services.features.transforms import EVENT_FIELDS, FEEDBACK_FIELDS, event_inputs, fraud_views

__all__ = ["build_app"]


def _faust_conf(settings: FeaturesSettings, partitions: int) -> dict[str, Any]:
    kafka = settings.kafka
    if kafka.security_protocol != "PLAINTEXT" and kafka.sasl_mechanism is None:
        raise SystemExit("features: only PLAINTEXT or SASL (KAFKA_SASL_*) connections are wired for Faust")
    conf: dict[str, Any] = {
        "broker": [f"kafka://{hp.strip()}" for hp in kafka.bootstrap.split(",")],
        # Faust's RocksDB store files each key under the current event's partition, which breaks
        # tables written with use_partitioner; memory tables are rebuilt from the changelogs.
        "store": "memory://",
        "datadir": str(settings.state_dir),
        "topic_partitions": partitions,
        "topic_replication_factor": 1,
        "producer_acks": -1,
        # batch the changelog and output records: with no linger every record is its own request
        "producer_linger": 0.005,
        "producer_max_batch_size": 1_048_576,
        "consumer_auto_offset_reset": "earliest",
        "stream_buffer_maxsize": 32_768,
        "broker_commit_interval": 1.0,
        # Faust's 60 s: a restart after a crash waited that long for the dead member to leave the
        # group (measured here: 50-70 s without any partition processed); the other clients use 10 s
        "broker_session_timeout": 10.0,
        "web_enabled": False,
        "autodiscover": False,
        "table_standby_replicas": 0,
        "processing_guarantee": "at_least_once",
        "agent_supervisor": mode.CrashingSupervisor,  # an agent that crashes stops the worker
    }
    if kafka.sasl_mechanism:
        conf["broker_credentials"] = faust.SASLCredentials(
            username=kafka.sasl_username or "",
            password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else "",
            mechanism=kafka.sasl_mechanism,
        )
    return conf


def _changelog(app: faust.App, settings: FeaturesSettings) -> ChangelogSink | None:
    """librdkafka: one producer for table changes, features events and dead letters; else Faust's."""
    if settings.changelog_producer == "librdkafka":
        return ChangelogSink(make_producer(settings.kafka, **{"linger.ms": 5}))
    app.producer.buffer.max_messages = 20_000  # one changelog record per key and batch; 100 throttles
    return None


def _tables(app: faust.App, partitions: int, changelog: ChangelogSink | None) -> tuple[Any, Any]:
    """The customers and terminals state tables, their changelogs through `changelog` if given."""
    table_opts: dict[str, Any] = {
        "default": None,
        "partitions": partitions,
        "use_partitioner": True,  # terminal state is shared by every customer partition
        "key_type": str,  # raw bytes on the changelog, str again after recovery
    }
    customers = app.tables.add(KeyHashedTable(app, name="customers", **table_opts))
    terminals = app.tables.add(KeyHashedTable(app, name="terminals", **table_opts))
    customers.sink = terminals.sink = changelog
    return customers, terminals


def _label_gate(app: faust.App, settings: FeaturesSettings, backfill: KafkaBackfill) -> LabelGate:
    """The labels gate, reading the labels partitions' high watermarks and committed offsets."""

    def tps(partitions: list[int]) -> list[TP]:
        return [TP(settings.labels_topic, p) for p in partitions]

    def cached(tp: TP) -> int | None:
        try:
            return cast(int | None, app.consumer.highwater(tp))
        except AssertionError:  # not assigned (a rebalance is under way)
            return None

    async def highwaters(partitions: list[int]) -> Mapping[int, int]:
        # the last fetch response's high watermark (the fetcher asks every fetch_max_wait_ms at
        # most); a ListOffsets round trip through Faust's consumer thread only where none came yet:
        # one per batch took 5-190 ms at 2k events/s
        known = {tp.partition: v for tp in tps(partitions) if (v := cached(tp)) is not None}
        missing = [p for p in partitions if p not in known]
        if missing:
            for tp, v in (await app.consumer.highwaters(*tps(missing))).items():
                known[tp.partition] = int(v)
        return known

    async def starts(partitions: list[int]) -> Mapping[int, int]:
        return {tp.partition: v for tp, v in (await backfill.starts(tps(partitions))).items()}

    return LabelGate(settings.label_wait_ms / 1000, highwaters, starts)


def _offset_orders(
    app: faust.App, backfill: KafkaBackfill, settings: FeaturesSettings
) -> tuple[OffsetOrder, OffsetOrder]:
    """Offset order for the transactions and the labels agents, sharing one backfill client."""
    recovery = app.tables.recovery

    def settled() -> bool:
        return bool(recovery.completed.is_set() and not recovery.in_recovery)

    orders = tuple(
        OffsetOrder(backfill.starts, backfill.read, settled=settled, topic=topic)
        for topic in (settings.clean_topic, settings.labels_topic)
    )

    @app.on_rebalance_complete.connect
    async def _restored(sender: Any, **_: Any) -> None:  # the tables are restored
        for order in orders:
            order.restored = True

    return orders[0], orders[1]


def _aiokafka_state(app: faust.App, tp: TP) -> Any:
    """aiokafka's private state of an assigned partition (position, paused), or None."""
    try:
        return app.consumer._thread._consumer._subscription.subscription.assignment.state_value(tp)
    except AttributeError:
        return None


def _fetched(app: faust.App) -> Callable[[TP], int | None]:
    """aiokafka's position in a partition: what it has fetched (None if unknown)."""

    def position(tp: TP) -> int | None:
        state = _aiokafka_state(app, tp)
        return state.position if state is not None else None

    return position


def _faust_view(app: faust.App) -> Callable[[TP], str]:
    """What Faust's consumer makes of a partition (for the log of a stalled one; private state)."""

    def describe(tp: TP) -> str:
        consumer, state = app.consumer, _aiokafka_state(app, tp)
        position, paused = (state.position, state.paused) if state is not None else (None, None)
        return (
            f"Faust: active {tp in (consumer._active_partitions or ())}, paused "
            f"{tp in consumer._paused_partitions}, buffer full {tp in consumer._buffered_partitions}, "
            f"read offset {consumer._read_offset.get(tp)}; aiokafka: position {position}, paused {paused}"
        )

    return describe


def build_app(
    settings: FeaturesSettings,
    partitions: int,
    sinks: FeatureSinks,
    metrics: FeaturesMetrics,
    on_ready: Callable[[], None],
) -> faust.App:
    """The Faust app with its tables and agents; nothing connects until a worker runs it."""
    app = faust.App(settings.group_id, **_faust_conf(settings, partitions))
    app.transport = bounded_fetch_transport(app, settings.fetch_max_wait_ms)
    changelog = _changelog(app, settings)
    customers, terminals = _tables(app, partitions, changelog)
    views = fraud_views(settings.label_delay_days)
    engine = FeatureEngine(
        views,
        [cast(MutableMapping[str, Any], customers), cast(MutableMapping[str, Any], terminals)],
        EVENT_FIELDS,
        FEEDBACK_FIELDS,
        settings.lateness_days,
        event_inputs,
    )
    clean_topic = app.topic(settings.clean_topic, key_serializer="raw", value_serializer="raw")
    labels_topic = app.topic(settings.labels_topic, key_serializer="raw", value_serializer="raw")

    backfill = KafkaBackfill(app, settings)
    gate = _label_gate(app, settings, backfill)
    tx_order, label_order = _offset_orders(app, backfill, settings)

    @app.on_partitions_assigned.connect
    async def _assigned(sender: Any, assigned: set[Any], **_: Any) -> None:
        tx_order.assigned(assigned)
        label_order.assigned(assigned)
        engine.assigned()
        gate.assign(tp.partition for tp in assigned if tp.topic == settings.labels_topic)
        on_ready()

    pipeline = Pipeline(app, settings, sinks, metrics, changelog)
    label_out = Outputs(producer_for(settings, changelog), changelog)
    dlq = Outputs(producer_for(settings, changelog))
    process = Processing(settings, engine, gate, pipeline, metrics, label_out, dlq)

    @app.agent(labels_topic)
    async def apply_labels(stream: faust.StreamT[bytes]) -> None:
        async for delivered in stream.take_events(5000, within=0.005):
            async with label_order.lock:
                admitted = await label_order.admit(delivered)
                await process.labels(admitted.ready, admitted.repeats)

    @app.agent(clean_topic)
    async def featurize(stream: faust.StreamT[bytes]) -> None:
        async for delivered in stream.take_events(
            settings.max_batch_size, within=settings.max_batch_wait_ms / 1000
        ):
            started = time.monotonic()
            async with tx_order.lock:
                admitted = await tx_order.admit(delivered)
                await process.transactions(admitted.ready, started, admitted.repeats)

    describe, fetched = _faust_view(app), _fetched(app)

    labels_quiet = settings.labels_stall_after_s

    @app.timer(interval=max(0.5, labels_quiet / 3))  # its own: a transactions batch may wait on labels
    async def stalled_labels() -> None:
        await label_order.stalled(labels_quiet, backfill.highwater, process.labels, describe, fetched)

    @app.timer(interval=max(1.0, settings.stall_after_s / 3))
    async def stalled_transactions() -> None:
        await tx_order.stalled(
            settings.stall_after_s, backfill.highwater, process.transactions, describe, fetched
        )

    @app.task
    async def online_stage() -> None:
        await pipeline.run_online()

    @app.task
    async def emit_stage() -> None:
        await pipeline.run_emit()

    @app.task
    async def lake_stage() -> None:
        await pipeline.run_lake()

    return app
