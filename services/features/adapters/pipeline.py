"""Ordered output stages of the features service: online write, Delta and emit (in either order), ack."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import EventT

from services.common.contracts import CleanTransactionV1, FeaturizedTransactionV1, encode
from services.common.kafka.clients import make_producer
from services.common.kafka.delivery import deliver
from services.common.kafka.dlq import dead_letter
from services.common.kafka.envelope import Output
from services.features.adapters.changelog import ChangelogSink
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.sinks import FeatureSinks, Written
from services.features.config import FeaturesSettings
from services.features.handlers import Computed

__all__ = ["Batch", "Outputs", "Pipeline", "dead_letter_event", "producer_for"]

log = logging.getLogger(__name__)


class Outputs:
    """Collects outputs and delivers them with the shared `deliver` (librdkafka, idempotent,
    acks=all) in a worker thread: waiting for the acknowledgements releases the GIL. With a
    changelog sink (same producer), a flush also makes every table change sent so far durable."""

    def __init__(self, producer: Any, changelog: ChangelogSink | None = None) -> None:
        self.producer, self.changelog = producer, changelog
        self.pending: list[Output] = []

    async def send(self, topic: str, key: bytes | None, value: bytes, headers: Sequence[Any]) -> None:
        self.pending.append(Output(topic=topic, value=value, key=key, headers=tuple(headers)))

    async def flush(self) -> None:
        """Return once every output (and table change) sent so far is acknowledged; raise if any
        was not."""
        if not self.pending and self.changelog is None:
            return
        outputs, self.pending = self.pending, []
        await asyncio.to_thread(self._deliver, outputs)

    def _deliver(self, outputs: list[Output]) -> None:
        failures = deliver(self.producer, outputs, timeout_s=60, service="features") if outputs else []
        if failures:
            first = [f"{f.output.topic}: {f.error}" for f in failures[:3]]
            raise RuntimeError(f"features: {len(failures)} outputs refused by Kafka, e.g. {first}")
        if self.changelog is not None:
            self.changelog.durable()


def producer_for(settings: FeaturesSettings, changelog: ChangelogSink | None) -> Any:
    """The changelog's librdkafka producer when there is one (one producer for everything), else a
    new one."""
    return changelog.producer if changelog else make_producer(settings.kafka)


async def dead_letter_event(
    out: Outputs, settings: FeaturesSettings, event: EventT, error: Exception
) -> None:
    msg = event.message
    dlq = dead_letter(
        dlq_topic=settings.dlq_topic,
        service="features",
        error=error,
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value,
        headers=tuple(msg.headers or ()),
    )
    await out.send(dlq.topic, dlq.key, dlq.value, dlq.headers)


@dataclass
class Batch:
    events: Sequence[EventT]
    decoded: list[tuple[CleanTransactionV1, EventT]]
    computed: list[Computed]
    started: float
    written: Written | None = None


async def _drain(queue: asyncio.Queue[Batch], limit: int = 64) -> list[Batch]:
    """The next batch and every batch already waiting behind it: under load, writes coalesce."""
    items = [await queue.get()]
    while not queue.empty() and len(items) < limit:
        items.append(queue.get_nowait())
    return items


def _merge(items: list[Batch]) -> Batch:
    if len(items) == 1:
        return items[0]
    merged = Batch([], [], [], items[0].started)
    for item in items:
        merged.events = [*merged.events, *item.events]
        merged.decoded += item.decoded
        merged.computed += item.computed
    if all(i.written is not None for i in items):
        merged.written = Written()
        for item in items:
            assert item.written is not None
            merged.written.online_at += item.written.online_at
            merged.written.read_back += item.written.read_back
            merged.written.waves += item.written.waves
    return merged


class Pipeline:
    """Computed batches flow, in order, through three stages: online writes, then the Delta appends
    and the features events, then the acks. By default (`emit_after_lake`) an event goes out only
    once its rows are in Delta as well as online, so a reader of `transactions.features` finds them
    in both stores; otherwise the events go out right after the online write and the Delta append
    follows (no service here reads the rows from Delta; the hop is ~the append interval shorter).
    Either way an event is acked (its offset becomes committable) only after its features event is
    acknowledged by Kafka and its rows are in Delta."""

    def __init__(
        self,
        app: faust.App,
        settings: FeaturesSettings,
        sinks: FeatureSinks,
        metrics: FeaturesMetrics,
        changelog: ChangelogSink | None,
    ):
        self.app, self.settings, self.sinks, self.metrics = app, settings, sinks, metrics
        self.changelog = changelog
        self.after_lake = settings.emit_after_lake
        self.online_q: asyncio.Queue[Batch] = asyncio.Queue(maxsize=4)
        self.emit_q: asyncio.Queue[Batch] = asyncio.Queue(maxsize=4)
        # bounded, but roomy enough that the stage before does not wait on the minimum interval
        self.lake_q: asyncio.Queue[Batch] = asyncio.Queue(maxsize=256)

    @staticmethod
    def _ack(batch: Batch) -> None:
        for event in batch.events:
            event.ack()

    async def submit(self, batch: Batch) -> None:
        await self.online_q.put(batch)

    async def _guard(self, stage: Callable[[], Awaitable[None]]) -> None:
        try:
            while True:
                await stage()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("features: pipeline stage failed; stopping so the events are redelivered")
            await self.app.crash(exc)

    async def run_online(self) -> None:
        async def step() -> None:
            batch = _merge(await _drain(self.online_q))
            t0 = time.monotonic()
            # Inline, not in a thread: a Python-bound thread makes the event loop wait for the GIL
            # on every wake-up (measured here: the whole service fell to ~400 events/s).
            batch.written = self.sinks.online(batch.computed)
            self.metrics.waves.inc(batch.written.waves)
            log.debug("online stage %d: %.1f ms", len(batch.computed), (time.monotonic() - t0) * 1000)
            for (tx, _), at in zip(batch.decoded, batch.written.online_at, strict=True):
                self.metrics.freshness.observe(max(at - tx.ingest_time.timestamp(), 0.0))
            await (self.lake_q if self.after_lake else self.emit_q).put(batch)

        await self._guard(step)

    async def run_emit(self) -> None:
        """Features events out, then the acks (after the lake stage) or on to the lake stage."""
        # with librdkafka its flush covers the batch's table changes too
        out = Outputs(producer_for(self.settings, self.changelog), self.changelog)

        async def step() -> None:
            batch = _merge(await _drain(self.emit_q))
            t0 = time.monotonic()
            written = batch.written
            assert written is not None
            for (tx, event), c, at, back in zip(
                batch.decoded, batch.computed, written.online_at, written.read_back, strict=True
            ):
                featurized = FeaturizedTransactionV1.model_construct(
                    **dict(tx),
                    features_written_at=datetime.fromtimestamp(at, UTC),
                    feature_service=self.settings.feature_service,
                    feature_event_time=c.times[0],
                    features=c.features,
                    online_features=back,
                )
                await out.send(
                    self.settings.features_topic,
                    event.message.key,
                    encode(featurized),
                    event.message.headers or (),
                )
            t1 = time.monotonic()
            await out.flush()
            self.metrics.batch_seconds.observe(time.monotonic() - batch.started)
            log.debug(
                "emit stage %d: send %.1f ms, flush %.1f ms",
                len(batch.computed),
                (t1 - t0) * 1000,
                (time.monotonic() - t1) * 1000,
            )
            if self.after_lake:
                self._ack(batch)
            else:
                await self.lake_q.put(batch)

        await self._guard(step)

    async def run_lake(self) -> None:
        """Delta appends, at most one per `lake_min_interval_ms` (the rows of the batches that came
        meanwhile go together), then on to the emit stage or the acks."""
        interval = self.settings.lake_min_interval_ms / 1000
        last = 0.0

        async def step() -> None:
            nonlocal last
            items = [await self.lake_q.get()]
            await asyncio.sleep(max(last + interval - time.monotonic(), 0.0))
            while not self.lake_q.empty():
                items.append(self.lake_q.get_nowait())
            batch = _merge(items)
            t0 = time.monotonic()
            rows = self.sinks.lake_rows(batch.computed)
            t1 = time.monotonic()
            await asyncio.to_thread(self.sinks.lake, rows)
            last = time.monotonic()
            if self.after_lake:
                await self.emit_q.put(batch)
            else:
                self._ack(batch)
            log.debug(
                "lake stage %d batches, %d rows: rows %.1f ms, delta %.1f ms",
                len(items),
                len(batch.computed),
                (t1 - t0) * 1000,
                (last - t1) * 1000,
            )

        await self._guard(step)
