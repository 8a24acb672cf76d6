"""The runner's transactions on stub clients: a producer that fails for good after a broker crash is
replaced (same transactional.id) and the batch comes again; fenced twice in a row, the service stops."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from services.common.contracts import decoder_for
from services.common.kafka import Runner, RunnerConfig
from services.common.kafka.retry import Backoff
from services.common.kafka.transactions import FencedTwice
from tests.factories import tx
from tests.unit.stubs import StubConsumer, StubMessage, StubProducer
from tests.unit.test_runner import echo
from usecases.fraud import CONTRACTS


@dataclass
class TxProducer(StubProducer):
    """A transactional producer: `commit_fails` / `abort_fails` are raised by the next commit / abort."""

    commit_fails: list[Exception] = field(default_factory=list)
    abort_fails: list[Exception] = field(default_factory=list)
    inits: int = 0

    def init_transactions(self, timeout: float) -> None:
        self.inits += 1

    def begin_transaction(self) -> None:
        self.log.append("begin")

    def send_offsets_to_transaction(self, offsets: Any, metadata: Any, timeout: float) -> None:
        self.log.append("offsets")

    def commit_transaction(self, timeout: float) -> None:
        if self.commit_fails:
            raise self.commit_fails.pop(0)
        self.log.append("committed")

    def abort_transaction(self, timeout: float) -> None:
        if self.abort_fails:
            raise self.abort_fails.pop(0)
        self.log.append("aborted")


@dataclass
class TxConsumer(StubConsumer):
    seeks: list[tuple[str, int, int]] = field(default_factory=list)

    def consumer_group_metadata(self) -> object:
        return object()

    def seek(self, tp: Any) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))


def _error(code: int, fatal: bool = False) -> KafkaException:
    return KafkaException(KafkaError(code, "stub", fatal=fatal))


def _runner(
    first: TxProducer, log: list[str], spares: list[TxProducer]
) -> tuple[Runner, TxConsumer, list[int]]:
    consumer, aborted = TxConsumer(log), []
    runner = Runner(
        RunnerConfig(service="svc", dlq_topic="dlq", transactional=True, backoff=Backoff(0.001, 0.002)),
        consumer=consumer,
        producer=first,
        decoders={"in": decoder_for(CONTRACTS.raw)},
        handler=echo,
        on_aborted=lambda: aborted.append(1),
        new_producer=lambda: spares.pop(0),
    )
    assert runner._transaction is not None
    runner._transaction.init()
    return runner, consumer, aborted


def test_a_producer_the_broker_lost_is_replaced_and_the_batch_comes_again() -> None:
    log: list[str] = []
    crashed = TxProducer(log, commit_fails=[_error(KafkaError.INVALID_TXN_STATE)])
    crashed.abort_fails = [_error(KafkaError.INVALID_TXN_STATE, fatal=True)]
    spare = TxProducer(log)
    runner, consumer, aborted = _runner(crashed, log, [spare])
    batch = [StubMessage(tx(i), 10 + i) for i in range(3)]
    runner.process(batch)
    assert runner._transaction is not None and not runner._transaction.settle()
    assert runner.producer is spare and spare.inits == 1, "a new producer with the same transactional.id"
    assert consumer.seeks == [("in", 0, 10)] and aborted == [1], "the batch is rewound and comes again"
    runner.process(batch)
    assert runner._transaction.settle()
    assert len(spare.produced) == 3 and log[-1] == "committed"
    assert runner._transaction.renewals == 1


def test_a_fenced_producer_is_replaced_once_and_a_second_fence_stops_the_service() -> None:
    """Fences of transactions younger than their timeout: the coordinator did not abort them, another
    process with this transactional.id did."""
    log: list[str] = []
    # a first one is survived (it could be the last gasp of a process being replaced)
    fenced = TxProducer(log, commit_fails=[_error(KafkaError.PRODUCER_FENCED, fatal=True)])
    again = TxProducer(log, commit_fails=[_error(KafkaError._FENCED, fatal=True)])
    runner, consumer, _ = _runner(fenced, log, [again, TxProducer(log)])
    runner.process([StubMessage(tx(0), 0)])
    assert runner._transaction is not None and not runner._transaction.settle()
    assert runner.producer is again and again.inits == 1 and consumer.seeks == [("in", 0, 0)]
    # fenced again soon after: another process has this transactional.id; stop instead of fencing it back
    runner.process([StubMessage(tx(0), 0)])
    with pytest.raises(FencedTwice, match=r"another process uses this one's transactional\.id"):
        runner._transaction.settle()
    assert runner.producer is again, "no third producer"


def test_transactions_that_outlived_their_timeout_are_fenced_by_the_coordinator_not_another_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen when the broker was SIGKILLed 5 times in 75 s: two fences within 5 minutes, each of a
    transaction the coordinator aborted after a restart because it outlived transaction.timeout.ms. Each
    is survived with a new producer; the service does not stop."""
    now = [1000.0]
    monkeypatch.setattr("services.common.kafka.transactions.time.monotonic", lambda: now[0])
    log: list[str] = []
    spares = [TxProducer(log, commit_fails=[_error(KafkaError._FENCED, fatal=True)]), TxProducer(log)]
    first = TxProducer(log, commit_fails=[_error(KafkaError.PRODUCER_FENCED, fatal=True)])
    runner, _, _ = _runner(first, log, spares)
    assert runner._transaction is not None
    for fenced_after_s in (61.0, 60.0):  # the timeout is RunnerConfig's default, 60 s
        runner.process([StubMessage(tx(0), 0)])
        now[0] += fenced_after_s
        assert not runner._transaction.settle()
    assert runner._transaction.renewals == 2 and spares == []
