"""The runner's exactly-once mode: a batch's outputs and its consumer offsets in one Kafka transaction."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from services.common.errors import TransientError
from services.common.kafka.delivery import DeliveryFailure, flush_all, produce_all
from services.common.kafka.envelope import KafkaMessage, Output
from services.common.kafka.retry import retry_transient

if TYPE_CHECKING:
    from services.common.kafka.runner import Runner

__all__ = ["FencedTwice", "Transactions", "batch_offsets"]

log = logging.getLogger(__name__)


def batch_offsets(messages: Sequence[KafkaMessage], *, end: bool) -> list[TopicPartition]:
    """Per partition of the batch: the offset after its last message (end) or its first offset."""
    # a batch holds each partition's messages in offset order: the last (first) one seen is the end (start)
    ordered = reversed(messages) if not end else messages
    found = {(m.topic() or "", m.partition() or 0): m.offset() or 0 for m in ordered if m.error() is None}
    return [TopicPartition(t, p, o + 1 if end else o) for (t, p), o in found.items()]


class FencedTwice(RuntimeError):
    """Two processes share a transactional.id: they would fence each other forever."""


class Transactions:
    """begin → produce → send offsets → commit per batch. The produce happens on the loop's thread; the
    wait for acknowledgements and the commit run on a helper thread while the loop consumes and decodes
    the next batch, and `settle()` collects the outcome before that batch is handled (one transaction in
    flight at most; handlers never see a batch before the previous one is settled). An abortable failure
    aborts, rewinds the consumer to the first offsets of the batch (and of the batch consumed meanwhile)
    and lets the loop consume them again. A fatal one is the broker losing the producer's state in a
    crash, or fencing: then a new producer with the same transactional.id takes over (its init aborts
    what the old one left open) and the batches are rewound the same way, up to `RENEWALS` times in a
    row. Fencing is what the coordinator does to a transaction that outlived transaction.timeout.ms
    (a broker outage longer than it: survived every time), and what a second process with this
    transactional.id does to a younger one: the first such fence is survived, a second within
    `FENCES_WINDOW_S` stops the service (two processes would otherwise fence each other forever)."""

    RENEWALS = 5
    FENCES_WINDOW_S = 300.0

    def __init__(
        self, runner: Runner, on_committed: Callable[[], None] | None, on_aborted: Callable[[], None] | None
    ) -> None:
        self.runner = runner
        self.on_committed, self.on_aborted = on_committed, on_aborted
        self.commits = self.aborts = self.renewals = 0
        self._renewed_in_a_row = 0
        self._fenced_at = -float("inf")
        self._began = time.monotonic()  # when the transaction in flight (or the last one) began
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"{runner.config.service}-commit")
        self._in_flight: tuple[Future[None], Sequence[KafkaMessage], Counter[str]] | None = None

    def init(self) -> None:
        """Register the transactional id (aborting what a previous instance left open)."""
        self.runner.producer.init_transactions(self.runner.config.delivery_timeout_s)  # type: ignore[attr-defined]

    def run(self, messages: Sequence[KafkaMessage], outputs: list[Output]) -> None:
        """Start one batch's transaction: produce here, finish it on the helper thread."""
        self.settle()
        r = self.runner
        producer, timeout = r.producer, r.config.delivery_timeout_s
        offsets = batch_offsets(messages, end=True)
        try:
            self._began = time.monotonic()
            producer.begin_transaction()  # type: ignore[attr-defined]
            failures = produce_all(producer, outputs, service=r.config.service)
            while failures:  # refused on the spot (too large): dead-letter the source in this transaction
                replacements = r.refused(failures)  # raises when an output has no source to dead-letter
                failures.clear()  # async reports of this batch land in the same list
                failures += produce_all(producer, replacements, service=r.config.service)
            metadata = r.consumer.consumer_group_metadata() if offsets else None  # type: ignore[attr-defined]
        except (KafkaException, TransientError) as exc:
            self._failed(messages, exc)
            return
        future = self._pool.submit(self._finish, failures, offsets, metadata, timeout)
        self._in_flight = (future, messages, Counter(out.topic for out in outputs))

    def _finish(
        self, failures: list[DeliveryFailure], offsets: list[TopicPartition], metadata: Any, timeout: float
    ) -> None:
        producer = self.runner.producer
        flush_all(producer, timeout)
        if failures:
            raise KafkaException(failures[0].error)
        if offsets:
            producer.send_offsets_to_transaction(offsets, metadata, timeout)  # type: ignore[attr-defined]
        for attempt in range(5):
            try:
                producer.commit_transaction(timeout)  # type: ignore[attr-defined]
                return
            except KafkaException as exc:
                error = exc.args[0]
                if not (isinstance(error, KafkaError) and error.retriable()) or attempt == 4:
                    raise
                time.sleep(self.runner.config.backoff.initial_s)

    def settle(self, upcoming: Sequence[KafkaMessage] = ()) -> bool:
        """Wait for the transaction in flight. False when it aborted: its batch and `upcoming` (consumed
        but not handled yet) were rewound and come again."""
        if self._in_flight is None:
            return True
        future, messages, produced = self._in_flight
        self._in_flight = None
        try:
            future.result()
        except (KafkaException, TransientError) as exc:
            self._failed([*messages, *upcoming], exc)
            return False
        self.commits += 1
        self._renewed_in_a_row = 0
        r = self.runner
        for topic, n in produced.items():
            r.metrics.produced.labels(r.config.service, topic).inc(n)
        if self.on_committed is not None:
            self.on_committed()
        return True

    def _failed(self, messages: Sequence[KafkaMessage], exc: BaseException) -> None:
        if _fatal(exc):
            self._renew(messages, exc)
        else:
            self._abort(messages, exc)

    def _abort(self, messages: Sequence[KafkaMessage], exc: BaseException) -> None:
        r = self.runner
        log.warning("%s: transaction aborted (%s); the batch will be processed again", r.config.service, exc)
        self.aborts += 1
        try:
            r.producer.abort_transaction(r.config.delivery_timeout_s)  # type: ignore[attr-defined]
        except KafkaException as abort_exc:
            if _fatal(abort_exc):
                self._renew(messages, abort_exc)
                return
            log.warning("%s: abort failed (%s)", r.config.service, abort_exc)
        self._rewind(messages)

    def _renew(self, messages: Sequence[KafkaMessage], exc: BaseException) -> None:
        r = self.runner
        if r.new_producer is None or self._renewed_in_a_row >= self.RENEWALS:
            raise exc
        now = time.monotonic()
        outlived = now - self._began >= r.config.transaction_timeout_s  # aborted by the coordinator
        if exc.args[0].code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED) and not outlived:
            if now - self._fenced_at < self.FENCES_WINDOW_S:
                env = r.config.service.upper()
                raise FencedTwice(
                    f"{r.config.service}: fenced twice within {self.FENCES_WINDOW_S:.0f} s: another process "
                    f"uses this one's transactional.id; give each its own ({env}_TRANSACTIONAL_ID)"
                ) from exc
            self._fenced_at = now
        log.warning("%s: the producer failed for good (%s); a new one takes over", r.config.service, exc)
        self._renewed_in_a_row += 1
        self.renewals += 1
        r.producer = r.new_producer()
        # the same transactional.id: the broker aborts what the old producer left open (retried while
        # the broker is still coming back)
        retry_transient(self.init, backoff=r.config.backoff, stop=r.stopping, what=f"{r.config.service} init")
        self._rewind(messages)

    def _rewind(self, messages: Sequence[KafkaMessage]) -> None:
        r = self.runner
        if self.on_aborted is not None:
            self.on_aborted()
        for tp in batch_offsets(messages, end=False):
            try:
                r.consumer.seek(tp)  # type: ignore[attr-defined]
            except KafkaException as seek_exc:  # revoked meanwhile: its new owner resumes from the commit
                log.info("%s: no rewind of %s[%d]: %s", r.config.service, tp.topic, tp.partition, seek_exc)
        time.sleep(r.config.backoff.initial_s)

    def close(self) -> None:
        """Settle the transaction in flight and stop the helper thread."""
        try:
            self.settle()
        finally:
            self._pool.shutdown(wait=True)


def _fatal(exc: BaseException) -> bool:
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return isinstance(error, KafkaError) and error.fatal()
