"""The runner's exactly-once mode: a batch's outputs and its consumer offsets in one Kafka transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from services.common.errors import TransientError
from services.common.kafka.delivery import deliver
from services.common.kafka.envelope import KafkaMessage, Output

if TYPE_CHECKING:
    from services.common.kafka.runner import Runner

__all__ = ["Transactions", "batch_offsets"]

log = logging.getLogger(__name__)


def batch_offsets(messages: Sequence[KafkaMessage], *, end: bool) -> list[TopicPartition]:
    """Per partition of the batch: the offset after its last message (end) or its first offset."""
    found: dict[tuple[str, int], int] = {}
    for m in messages:
        if m.error() is None:
            tp, offset = (m.topic() or "", m.partition() or 0), m.offset() or 0
            if end:
                found[tp] = max(found.get(tp, -1), offset + 1)
            else:
                found[tp] = min(found.get(tp, offset), offset)
    return [TopicPartition(t, p, o) for (t, p), o in found.items()]


class Transactions:
    """begin → produce → send offsets → commit per batch. An abortable failure aborts, rewinds the
    consumer to the batch's first offsets and lets the loop consume the batch again; a fatal one (this
    producer was fenced by a newer instance) stops the service."""

    def __init__(
        self, runner: Runner, on_committed: Callable[[], None] | None, on_aborted: Callable[[], None] | None
    ) -> None:
        self.runner = runner
        self.on_committed, self.on_aborted = on_committed, on_aborted
        self.commits = self.aborts = 0

    def init(self) -> None:
        """Register the transactional id (aborting what a previous instance left open)."""
        self.runner.producer.init_transactions(self.runner.config.delivery_timeout_s)  # type: ignore[attr-defined]

    def run(self, messages: Sequence[KafkaMessage], outputs: list[Output]) -> None:
        """One batch, exactly once."""
        r = self.runner
        producer, timeout = r.producer, r.config.delivery_timeout_s
        offsets = batch_offsets(messages, end=True)
        try:
            producer.begin_transaction()  # type: ignore[attr-defined]
            failures = deliver(producer, outputs, timeout_s=timeout, service=r.config.service)
            if failures:
                raise KafkaException(failures[0].error)
            if offsets:
                metadata = r.consumer.consumer_group_metadata()  # type: ignore[attr-defined]
                producer.send_offsets_to_transaction(offsets, metadata, timeout)  # type: ignore[attr-defined]
            self._commit()
        except (KafkaException, TransientError) as exc:
            error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
            if isinstance(error, KafkaError) and error.fatal():
                raise
            self._abort(messages, exc)
            return
        self.commits += 1
        for out in outputs:
            r.metrics.produced.labels(r.config.service, out.topic).inc()
        if self.on_committed is not None:
            self.on_committed()

    def _commit(self) -> None:
        producer = self.runner.producer
        for attempt in range(5):
            try:
                producer.commit_transaction(self.runner.config.delivery_timeout_s)  # type: ignore[attr-defined]
                return
            except KafkaException as exc:
                error = exc.args[0]
                if not (isinstance(error, KafkaError) and error.retriable()) or attempt == 4:
                    raise
                time.sleep(self.runner.config.backoff.initial_s)

    def _abort(self, messages: Sequence[KafkaMessage], exc: BaseException) -> None:
        r = self.runner
        log.warning("%s: transaction aborted (%s); the batch will be processed again", r.config.service, exc)
        self.aborts += 1
        try:
            r.producer.abort_transaction(r.config.delivery_timeout_s)  # type: ignore[attr-defined]
        except KafkaException as abort_exc:
            log.warning("%s: abort failed (%s)", r.config.service, abort_exc)
        if self.on_aborted is not None:
            self.on_aborted()
        for tp in batch_offsets(messages, end=False):
            try:
                r.consumer.seek(tp)  # type: ignore[attr-defined]
            except KafkaException as seek_exc:  # revoked meanwhile: its new owner resumes from the commit
                log.info("%s: no rewind of %s[%d]: %s", r.config.service, tp.topic, tp.partition, seek_exc)
        time.sleep(r.config.backoff.initial_s)
