"""What the two agents do with a batch of events, also called for a range read back from Kafka."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from faust.types import EventT

from services.common.contracts import CleanTransactionV1, LabelV1, decoder_for
from services.features.adapters.gate import LabelGate
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.pipeline import Batch, Outputs, Pipeline, dead_letter_event
from services.features.config import FeaturesSettings
from services.features.handlers import FeatureEngine

__all__ = ["Processing"]

M = TypeVar("M")

_decode_tx = decoder_for(CleanTransactionV1)
_decode_label = decoder_for(LabelV1)


class Processing:
    """Labels into the tables (acked once their changes are durable); transactions through the
    labels gate and the engine into the output pipeline (which acks them)."""

    def __init__(
        self,
        settings: FeaturesSettings,
        engine: FeatureEngine,
        gate: LabelGate,
        pipeline: Pipeline,
        metrics: FeaturesMetrics,
        label_out: Outputs,
        dlq: Outputs,
    ) -> None:
        self.settings, self.engine, self.gate, self.pipeline = settings, engine, gate, pipeline
        self.metrics, self.label_out, self.dlq = metrics, label_out, dlq

    async def _decode_all(
        self, events: Sequence[EventT[Any]], decode: Callable[[bytes], M], out: Outputs
    ) -> list[tuple[M, EventT[Any]]]:
        """Decoded events; each one that fails goes to the DLQ with its reason."""
        good = []
        for event in events:
            try:
                good.append((decode(event.message.value or b""), event))
            except Exception as exc:
                await dead_letter_event(out, self.settings, event, exc)
                self.metrics.dead_lettered.inc()
        return good

    async def labels(self, events: list[EventT[Any]], repeats: Sequence[EventT[Any]] = ()) -> None:
        """Apply the labels; `repeats` (re-deliveries, not applied again) are acked with them."""
        labels = await self._decode_all(events, _decode_label, self.label_out)
        for label, event in labels:
            self.gate.observe(event.message.partition, event.message.offset, label.label_time.timestamp())
        self.engine.labels([label for label, _ in labels])
        await self.label_out.flush()  # with librdkafka, flush also makes the table changes durable
        for event in (*events, *repeats):
            event.ack()
        self.metrics.labels.inc(len(labels))
        self.metrics.redelivered.inc(len(repeats))
        self.gate.notify()

    async def transactions(
        self, events: list[EventT[Any]], started: float | None = None, repeats: Sequence[EventT[Any]] = ()
    ) -> None:
        """Featurize the events; `repeats` (re-deliveries, not processed again) go through the
        pipeline with them, so each is acked only after every batch before it."""
        batch = await self._decode_all(events, _decode_tx, self.dlq)
        await self.dlq.flush()
        if batch or repeats:
            if batch:
                waited = await self.gate.wait_until(max(tx.event_time.timestamp() for tx, _ in batch))
                self.metrics.gate_wait.observe(waited)
            computed = self.engine.transactions(
                [(tx, e.message.partition, e.message.offset) for tx, e in batch]
            )
            # acked by the pipeline once the outputs are durable
            acked = [*events, *repeats]
            await self.pipeline.submit(Batch(acked, batch, computed, started or time.monotonic()))
        else:
            for event in events:
                event.ack()
        self.metrics.transactions.inc(len(batch))
        self.metrics.redelivered.inc(len(repeats))
        self.metrics.gate_timeouts.set(self.gate.timeouts)
