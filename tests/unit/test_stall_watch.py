"""The runner's stall watch: a partition counts as stalled only when it has records to read and has
delivered nothing for stall_s of the loop's own time (a loop that waited out an outage did not poll)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from services.common.health import HealthState
from services.common.kafka.assignment import Assignment
from services.common.metrics import RunnerMetrics
from tests.unit.stubs import StubMessage

INVALID = -1001


@dataclass
class Offsets:
    """A consumer's view of partition 0 of topic t: position, the group's commit, the high watermark."""

    at: int = INVALID
    done: int | None = 5  # None: the coordinator does not answer (a pending transactional commit)
    high: int = 9
    low: int = 0
    asked: list[str] = field(default_factory=list)

    def position(self, parts: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.at) for tp in parts]

    def committed(self, parts: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.asked.append("committed")
        if self.done is None:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "Failed to get committed offsets"))
        return [TopicPartition(tp.topic, tp.partition, self.done) for tp in parts]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float, cached: bool) -> tuple[int, int]:
        assert not cached, "a stalled fetcher has no cached watermarks"
        return self.low, self.high


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr("services.common.kafka.assignment.time.monotonic", lambda: now[0])
    return now


def _watch() -> Assignment:
    watch = Assignment("svc", RunnerMetrics("svc"), HealthState(), stall_s=60)
    watch.on_assign(None, [TopicPartition("t", 0)])
    return watch


def _turns(
    watch: Assignment, consumer: Offsets, clock: list[float], seconds: int, step: float = 1
) -> list[Any]:
    found: list[Any] = []
    for _ in range(int(seconds / step)):
        clock[0] += step
        found += watch.stalled(consumer, [])
    return found


def test_records_to_read_and_nothing_delivered_for_stall_s_is_a_stall(clock: list[float]) -> None:
    watch, consumer = _watch(), Offsets()
    assert _turns(watch, consumer, clock, 59) == [] and consumer.asked == [], "no broker call before stall_s"
    found = _turns(watch, consumer, clock, 2)
    assert [(tp.topic, tp.partition) for tp in found] == [("t", 0)]
    assert _turns(watch, consumer, clock, 30) == [], "asked again only after another stall_s"


def test_a_partition_that_delivers_is_not_stalled(clock: list[float]) -> None:
    watch, consumer = _watch(), Offsets()
    for _ in range(200):
        clock[0] += 1
        assert watch.stalled(consumer, [StubMessage(b"x", 1, "t", 0)]) == []
    assert consumer.asked == []


@pytest.mark.parametrize(
    ("position", "committed", "high"),
    [
        (INVALID, 9, 9),  # nothing new since the commit
        (9, 5, 9),  # read to the end (librdkafka's position passes commit markers)
        (INVALID, INVALID, 9),  # never committed: the reset policy decides where it starts
    ],
)
def test_a_partition_with_nothing_to_read_is_not_stalled(
    clock: list[float], position: int, committed: int, high: int
) -> None:
    watch, consumer = _watch(), Offsets(position, committed, high)
    assert _turns(watch, consumer, clock, 200) == []


def test_a_loop_blocked_in_an_outage_does_not_count_its_wait(clock: list[float]) -> None:
    watch, consumer = _watch(), Offsets()
    clock[0] += 90  # one turn: the handler retried a dependency for 90 s
    assert watch.stalled(consumer, []) == [] and consumer.asked == []
    assert _turns(watch, consumer, clock, 50) == [], "only 5 s of the blocked turn count"
    assert _turns(watch, consumer, clock, 10) != []


def test_a_revoked_partition_is_no_longer_watched(clock: list[float]) -> None:
    watch, consumer = _watch(), Offsets()
    watch.on_revoke(None, [TopicPartition("t", 0)])
    assert _turns(watch, consumer, clock, 200) == []


def test_a_partition_whose_committed_offset_cannot_be_read_is_stalled_and_named(clock: list[float]) -> None:
    """No position yet, records there, and the group coordinator does not give the committed offset
    (a read_committed fetch waits on a pending transactional commit): a stall, kept in `unreadable`."""
    watch, consumer = _watch(), Offsets(done=None)
    found = _turns(watch, consumer, clock, 61)
    assert [(tp.topic, tp.partition) for tp in found] == [("t", 0)]
    assert [(tp.topic, tp.partition) for tp in watch.unreadable] == [("t", 0)]


@pytest.mark.parametrize(
    ("position", "low", "high", "stalled"),
    [
        (INVALID, 9, 9, False),  # an empty partition: nothing to wait for
        (9, 0, 9, False),  # read to its end: where the group stands is not needed
        (5, 0, 9, True),  # behind its own position: a stalled fetch, not an unreadable commit
    ],
)
def test_an_unanswered_commit_query_alone_is_not_an_unreadable_commit(
    clock: list[float], position: int, low: int, high: int, stalled: bool
) -> None:
    watch, consumer = _watch(), Offsets(at=position, done=None, low=low, high=high)
    assert bool(_turns(watch, consumer, clock, 61)) is stalled
    assert watch.unreadable == []
