"""What a runner is given (batching, limits, timeouts) and what it needs of a consumer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from services.common.kafka.retry import Backoff

__all__ = ["ConsumerLike", "RunnerConfig"]


class ConsumerLike(Protocol):
    """What the runner needs of a consumer (confluent_kafka.Consumer satisfies it)."""

    def subscribe(self, *args: Any, **kwargs: Any) -> Any: ...
    def unsubscribe(self) -> Any: ...
    def consume(self, *args: Any, **kwargs: Any) -> Any: ...
    def commit(self, *args: Any, **kwargs: Any) -> Any: ...
    def close(self) -> Any: ...


@dataclass(frozen=True)
class RunnerConfig:
    """Batching, limits and timeouts of one runner."""

    service: str
    dlq_topic: str
    max_batch_size: int = 500
    max_batch_wait_s: float = 0.1
    # Eager: a batch is what is queued as soon as anything is (max_batch_wait_s then bounds only the wait
    # for the first message); else a batch waits max_batch_wait_s to fill, as a batch writer wants. A
    # consumer's consume(n, timeout) returns after the whole timeout unless n messages came: at 200/s
    # that was every batch, the hop's p50 half the wait and its p99 all of it.
    eager: bool = False
    max_value_bytes: int = 1_048_576
    delivery_timeout_s: float = 30.0
    # Commits are always issued after the batch's outputs are acknowledged; asynchronous ones let
    # the next batch start meanwhile (a lost commit only means redelivery). close() commits synchronously.
    sync_commit: bool = False
    # Exactly once: each batch's outputs and its consumer offsets go in one Kafka transaction (the
    # producer must have a transactional.id); downstream read_committed consumers see each batch once.
    transactional: bool = False
    # the producer's transaction.timeout.ms (Kafka's default 60 s): the coordinator fences a transaction
    # that outlives it (a broker outage), which is not another process with the same transactional.id
    transaction_timeout_s: float = 60.0
    # With a tick, an idle loop calls the handler with an empty batch at most this often (a handler with
    # timers: its outputs of an empty batch go out in a transaction of their own, with no offsets).
    tick_s: float | None = None
    # A partition with records to read that delivers nothing this long (in the loop's time) is taken as
    # a stalled fetch: the runner re-subscribes (a rebalance), which starts it again.
    stall_s: float = 60.0
    backoff: Backoff = field(default_factory=Backoff)
