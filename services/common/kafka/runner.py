"""The one consume → decode → handle → produce → commit loop; services supply decoders and a handler."""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from services.common.errors import PermanentError
from services.common.health import HealthState
from services.common.kafka.assignment import Assignment
from services.common.kafka.decode import Decoder, decode_batch
from services.common.kafka.delivery import DeliveryFailure, ProducerLike, deliver
from services.common.kafka.envelope import KafkaMessage, Output
from services.common.kafka.handling import Handler, Handling
from services.common.kafka.retry import Interrupted, retry_transient
from services.common.kafka.runner_config import ConsumerLike, RunnerConfig
from services.common.kafka.transactions import Transactions, batch_offsets
from services.common.metrics import RunnerMetrics
from services.common.outages import Outages

__all__ = ["ConsumerLike", "Handler", "Rebalance", "Runner", "RunnerConfig"]

log = logging.getLogger(__name__)
Rebalance = Callable[[Any, list[TopicPartition]], None]


class Runner:
    """Runs one service's loop. Offsets are committed only after every output of the batch is acked."""

    def __init__(
        self,
        config: RunnerConfig,
        *,
        consumer: ConsumerLike,
        producer: ProducerLike,
        decoders: Mapping[str, Decoder],
        handler: Handler,
        metrics: RunnerMetrics | None = None,
        health: HealthState | None = None,
        on_committed: Callable[[], None] | None = None,
        on_aborted: Callable[[], None] | None = None,
        on_assign: Rebalance | None = None,
        on_revoke: Rebalance | None = None,
        new_producer: Callable[[], ProducerLike] | None = None,
    ) -> None:
        """`on_assign` runs before the new partitions are consumed (a handler restores their state
        there); `on_revoke` after the batch in flight is settled, before they go. `new_producer` makes
        a replacement for a transactional producer that failed for good."""
        self.config, self.consumer, self.producer = config, consumer, producer
        self.new_producer = new_producer
        self._hooks = (on_assign, on_revoke)
        self._ticked = 0.0
        self._transaction = Transactions(self, on_committed, on_aborted) if config.transactional else None
        self.decoders, self.handler = dict(decoders), handler
        self.metrics = metrics or RunnerMetrics(config.service)
        self.health = health or HealthState()
        self._stop = threading.Event()
        self.assignment = Assignment(config.service, self.metrics, self.health, config.stall_s)
        self.outages = Outages(config.service, self.metrics, self.health)
        self.handling = Handling(
            config.service,
            config.dlq_topic,
            handler,
            backoff=config.backoff,
            metrics=self.metrics,
            outages=self.outages,
            stop=self._stop,
        )
        self._last_commit: list[TopicPartition] = []

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def stopping(self) -> threading.Event:
        """Set once a stop was asked for."""
        return self._stop

    def stop(self, *_: Any) -> None:
        """Ask the loop to finish the current batch, commit and close."""
        if not self._stop.is_set():
            log.info("%s: stopping after the current batch", self.config.service)
        self._stop.set()
        self.health.ready, self.health.detail = False, "stopping"

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the loop gracefully (call from the main thread)."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self) -> None:
        """Subscribe and loop until stopped; then commit what was processed and close."""
        if self._transaction is not None:
            self._transaction.init()
        self._subscribe()
        log.info("%s: consuming %s", self.config.service, ", ".join(self.decoders))
        try:
            while not self._stop.is_set():
                self.health.beat()
                messages = self._next_batch()
                if messages:
                    self.process(messages)
                elif self._tick_due():
                    self.process([])
                elif self._transaction is not None:
                    self._transaction.settle()
                self.assignment.update_lag(self.consumer)
                stalled = self.assignment.stalled(self.consumer, messages)
                if stalled:
                    self._resubscribe(stalled)
        except Interrupted as exc:
            log.warning("%s: %s; the batch stays uncommitted", self.config.service, exc)
        finally:
            self.close()

    def _next_batch(self) -> list[KafkaMessage]:
        size, wait = self.config.max_batch_size, self.config.max_batch_wait_s
        if not self.config.eager:
            return list(self.consumer.consume(num_messages=size, timeout=wait))
        queued = list(self.consumer.consume(num_messages=size, timeout=0))
        if queued:
            return queued
        first = list(self.consumer.consume(num_messages=1, timeout=wait))
        if first and size > 1:
            first += self.consumer.consume(num_messages=size - 1, timeout=0)
        return first

    def _subscribe(self) -> None:
        self.consumer.subscribe(list(self.decoders), on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _resubscribe(self, stalled: list[TopicPartition]) -> None:
        names = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in stalled)
        log.warning(
            "%s: %s delivered nothing for %.0f s with records to read (a stalled fetch); re-subscribing",
            self.config.service,
            names,
            self.config.stall_s,
        )
        if self.assignment.unreadable:
            unreadable = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in self.assignment.unreadable)
            self.health.detail = f"committed offsets of {unreadable} unreadable: a hanging transaction?"
            log.error(
                "%s: the group's committed offsets of %s cannot be read (a transactional offset commit is "
                "pending): a broker crash may have left a transaction hanging; find and abort it with "
                "`rtloop broker hanging --abort` (kafka-transactions.sh find-hanging / abort)",
                self.config.service,
                unreadable,
            )
        self.metrics.resubscribed.inc()
        self.consumer.unsubscribe()  # revokes everything (the transaction in flight is settled first)
        self._subscribe()

    def _tick_due(self) -> bool:
        tick = self.config.tick_s
        return tick is not None and time.monotonic() - self._ticked >= tick

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        if self._hooks[0] is not None:
            self._hooks[0](consumer, partitions)
        self.assignment.on_assign(consumer, partitions)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        if self._transaction is not None:  # its offsets may belong to the partitions going away
            self._transaction.settle()
        if self._hooks[1] is not None:
            self._hooks[1](consumer, partitions)
        self.assignment.on_revoke(consumer, partitions)

    def close(self) -> None:
        """Flush the producer and leave the group."""
        self.health.ready = False
        if self._transaction is not None:
            self._transaction.close()
        try:
            self.producer.flush(self.config.delivery_timeout_s)
        except KafkaException as exc:  # a producer that failed for good: what stopped the loop says why
            log.warning("%s: flush on close failed (%s)", self.config.service, exc)
        if self._last_commit and self._transaction is None:
            try:
                self.consumer.commit(offsets=self._last_commit, asynchronous=False)
            except KafkaException as exc:
                log.warning("%s: final commit failed (%s)", self.config.service, exc)
        self.consumer.close()
        log.info("%s: closed", self.config.service)

    # -- one batch -----------------------------------------------------------------------------
    def process(self, messages: Sequence[KafkaMessage]) -> None:
        """Decode, handle, deliver and commit one batch."""
        decoded = decode_batch(
            [m for m in messages if self._usable(m)], self.decoders, self.config.max_value_bytes
        )
        for topic, n in decoded.per_topic.items():
            self.metrics.count_consumed(topic, n)
        if self._transaction is not None and not self._transaction.settle(messages):
            return  # the previous batch aborted: it and this one were rewound and come again
        started = time.perf_counter()
        self._ticked = time.monotonic()
        outputs, handler_failed = self.handling(decoded.good, tick=not messages)
        self.metrics.handler_seconds.observe(time.perf_counter() - started)
        failed = decoded.failed + handler_failed
        dlq = [self.handling.dead_letter(env, exc) for env, exc in failed]
        if not messages and not outputs:
            return
        if self._transaction is not None:
            self._transaction.run(messages, list(outputs) + dlq)
        else:
            self._deliver_all(list(outputs) + dlq)
            self._commit(messages)
        self.metrics.batch_size.observe(len(messages))

    def _usable(self, msg: KafkaMessage) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.code() != KafkaError._PARTITION_EOF:
            log.warning("%s: consumer error: %s", self.config.service, err)
            if err.fatal():
                raise KafkaException(err)
        return False

    def _deliver_all(self, outputs: list[Output]) -> None:
        pending = outputs
        while pending:
            failures = retry_transient(
                functools.partial(
                    deliver,
                    self.producer,
                    pending,
                    timeout_s=self.config.delivery_timeout_s,
                    service=self.config.service,
                ),
                backoff=self.config.backoff,
                stop=self._stop,
                what=f"{self.config.service} produce",
                on_retry=functools.partial(self.outages.waiting, "produce"),
            )
            self.outages.recovered()
            failed_ids = {id(f.output) for f in failures}
            delivered = Counter(out.topic for out in pending if id(out) not in failed_ids)
            for topic, n in delivered.items():
                self.metrics.produced.labels(self.config.service, topic).inc(n)
            pending = self.refused(failures)

    def refused(self, failures: list[DeliveryFailure]) -> list[Output]:
        """What to produce instead of refused outputs: retriable ones again, the source's dead letter for
        a refused output, an empty DLQ value for a refused dead letter; KafkaException otherwise."""
        again: list[Output] = []
        for out, err in failures:
            if err.retriable():
                again.append(out)
            elif out.source is not None:
                again.append(self.handling.dead_letter(out.source, PermanentError(f"output refused: {err}")))
            elif out.topic == self.config.dlq_topic and out.value:
                size = len(out.value) if isinstance(out.value, bytes) else 0
                note = (("rtloop.dlq.dropped_value_bytes", str(size).encode()),)
                again.append(Output(out.topic, b"", out.key, out.headers + note))
            else:
                raise KafkaException(err)
        if again:
            time.sleep(self.config.backoff.initial_s)
        return again

    def _commit(self, messages: Sequence[KafkaMessage]) -> None:
        offsets = batch_offsets(messages, end=True)
        if not offsets:
            return
        self._last_commit = offsets
        try:
            result = self.consumer.commit(offsets=offsets, asynchronous=not self.config.sync_commit)
        except KafkaException as exc:
            log.warning("%s: commit failed (%s); the batch will be redelivered", self.config.service, exc)
            return
        for tp in result or ():
            if tp.error:
                log.warning(
                    "%s: commit of %s[%d] failed: %s",
                    self.config.service,
                    tp.topic,
                    tp.partition,
                    tp.error,
                )
