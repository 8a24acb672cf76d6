"""Where a partition starts for this group, and a skipped offset range read back as Faust events."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import faust
from confluent_kafka import Consumer, TopicPartition
from faust.types import TP, EventT
from faust.types.tuples import Message

from services.common.kafka.clients import make_consumer
from services.common.kafka.scan import read_range
from services.features.config import FeaturesSettings

__all__ = ["KafkaBackfill"]


class KafkaBackfill:
    """A librdkafka client that never joins the group (made at first use): the group's committed
    offsets, and `read` of a range by assignment, outside Faust's consumer."""

    def __init__(self, app: faust.App, settings: FeaturesSettings, timeout_s: float = 30.0) -> None:
        self.app, self.settings, self.timeout_s = app, settings, timeout_s
        self._client: Consumer | None = None
        self._lock = threading.Lock()  # one call at a time: the two agents share the client

    def _consumer(self) -> Consumer:
        if self._client is None:
            self._client = make_consumer(self.settings.kafka, self.settings.group_id)
        return self._client

    def _starts(self, tps: list[TP]) -> dict[TP, int]:
        with self._lock:
            client = self._consumer()
            got = client.committed([TopicPartition(tp.topic, tp.partition) for tp in tps], 10)
            out = {TP(t.topic, t.partition): t.offset for t in got if t.offset >= 0}
            for tp in tps:  # no committed offset: the group starts at the log start (earliest)
                if tp not in out:
                    out[tp] = client.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), 10)[0]
            return out

    async def starts(self, tps: list[TP]) -> dict[TP, int]:
        """Committed offset per partition, else its first offset."""
        return await asyncio.to_thread(self._starts, tps)

    def _highwater(self, tp: TP) -> int:
        with self._lock:
            return int(self._consumer().get_watermark_offsets(TopicPartition(tp.topic, tp.partition), 10)[1])

    async def highwater(self, tp: TP) -> int:
        """The partition's high watermark, asked of the broker."""
        return await asyncio.to_thread(self._highwater, tp)

    def _read(self, tp: TP, start: int, end: int) -> list[Any]:
        with self._lock:
            client = self._consumer()
            try:
                records = list(
                    read_range(client, tp.topic, tp.partition, start, end, idle_timeout_s=self.timeout_s)
                )
                reached = client.position([TopicPartition(tp.topic, tp.partition)])[0].offset or 0
            finally:
                client.unassign()
        if reached < end:
            raise RuntimeError(
                f"features: could not read {tp.topic}[{tp.partition}] offsets {start}..{end - 1} back "
                f"(stopped at {reached} after {self.timeout_s:.0f}s without progress); is the broker up?"
            )
        return records

    async def read(self, tp: TP, start: int, end: int) -> list[EventT[Any]]:
        """Offsets [start, end) of `tp` as events whose ack marks them done in Faust's consumer."""
        records = await asyncio.to_thread(self._read, tp, start, end)
        return [self._event(tp, r) for r in records]

    def _event(self, tp: TP, record: Any) -> EventT[Any]:
        kind, stamp = record.timestamp()
        message = Message(
            tp.topic,
            tp.partition,
            record.offset(),
            stamp / 1000 if stamp >= 0 else time.time(),
            kind,
            list(record.headers() or []),
            record.key(),
            record.value(),
            None,
            tp=tp,
        )
        return faust.Event(self.app, record.key(), record.value(), message.headers, message)
