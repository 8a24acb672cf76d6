"""OffsetOrder: a range Faust skipped is read back and processed in its place, in offset order."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

from services.features.adapters.order import Gap, OffsetOrder, Repeat

P0, P1 = TP("clean", 0), TP("clean", 1)


class _Message:
    def __init__(self, tp: TP, offset: int) -> None:
        self.tp, self.offset, self.refcount = tp, offset, 0

    def incref(self) -> None:
        self.refcount += 1

    def decref(self) -> None:
        self.refcount -= 1


class _Event:
    def __init__(self, tp: TP, offset: int) -> None:
        self.message = _Message(tp, offset)


def _events(tp: TP, *offsets: int) -> list[Any]:
    return [_Event(tp, o) for o in offsets]


class _Kafka:
    """Committed offsets of the group, and what a read back returned."""

    def __init__(self, committed: dict[TP, int]) -> None:
        self.committed, self.reads = committed, list[tuple[TP, int, int]]()

    async def starts(self, tps: list[TP]) -> dict[TP, int]:
        return {tp: self.committed.get(tp, 0) for tp in tps}

    async def read(self, tp: TP, start: int, end: int) -> list[Any]:
        self.reads.append((tp, start, end))
        return _events(tp, *range(start, end))


def _order(kafka: _Kafka) -> OffsetOrder:
    order = OffsetOrder(kafka.starts, kafka.read)
    order.restored = True
    return order


def _offsets(items: list[Any]) -> list[Any]:
    def one(i: Any) -> Any:
        if isinstance(i, Repeat):
            return ("again", i.event.message.tp.partition, i.event.message.offset)
        return i if isinstance(i, Gap) else (i.message.tp.partition, i.message.offset)

    return [one(i) for i in items]


def test_a_jump_puts_the_gap_before_the_event_that_revealed_it() -> None:
    order = _order(_Kafka({}))
    assert _offsets(order.plan(_events(P0, 10, 11))) == [(0, 10), (0, 11)]
    planned = order.plan(_events(P0, 48) + _events(P1, 5) + _events(P0, 49))
    assert _offsets(planned) == [Gap(P0, 12, 48), (0, 48), (1, 5), (0, 49)]
    assert order.next == {P0: 50, P1: 6}


def test_redeliveries_are_marked_and_do_not_move_the_expected_offset_back() -> None:
    order = _order(_Kafka({}))
    order.plan(_events(P0, 10, 11, 12))
    assert _offsets(order.plan(_events(P0, 11, 12, 13))) == [("again", 0, 11), ("again", 0, 12), (0, 13)]
    assert order.next[P0] == 14


def test_a_redelivery_after_a_read_back_is_acked_not_processed_again() -> None:
    """Faust delivering, late, what a read-back already processed: processing it again would
    compute its windows from a state that has moved past it."""
    kafka = _Kafka({P0: 100})
    order = _order(kafka)
    first = asyncio.run(order.admit(_events(P0, 100, 101)))
    assert _offsets(first.ready) == [(0, 100), (0, 101)] and not first.repeats
    order.next[P0] = 500  # a read-back processed 102..499
    late = _events(P0, 102, 103) + _events(P1, 0)
    got = asyncio.run(order.admit(late))
    assert _offsets(got.ready) == [(1, 0)]
    assert [e.message.offset for e in got.repeats] == [102, 103]
    assert all(e.message.refcount == 1 for e in late)  # the caller acks repeats too, in order
    assert order.next == {P0: 500, P1: 1}


def test_a_first_event_past_the_committed_offset_gets_the_range_read_back_first() -> None:
    kafka = _Kafka({P0: 2417})
    order = _order(kafka)
    got = asyncio.run(order.admit(_events(P0, 2422, 2423))).ready
    assert _offsets(got) == [(0, o) for o in range(2417, 2424)]
    assert kafka.reads == [(P0, 2417, 2422)]
    assert all(e.message.refcount == 1 for e in got)  # the caller acks each once


def test_events_before_the_tables_are_restored_wait_and_come_first_after() -> None:
    kafka = _Kafka({P0: 2380})
    order = OffsetOrder(kafka.starts, kafka.read)
    early = _events(P0, 2380, 2381)
    assert not asyncio.run(order.admit(early)).ready
    assert all(e.message.refcount == 1 for e in early)  # kept from being acked
    order.restored = True
    got = asyncio.run(order.admit(_events(P0, 2382))).ready
    assert _offsets(got) == [(0, 2380), (0, 2381), (0, 2382)] and not kafka.reads
    assert all(e.message.refcount == 1 for e in got)


def test_a_new_assignment_keeps_only_the_partitions_still_assigned_and_drops_waiting_events() -> None:
    kafka = _Kafka({P0: 0, P1: 0})
    order = _order(kafka)
    order.plan(_events(P0, 10) + _events(P1, 20))
    order.assigned({P0})
    assert order.next == {P0: 11} and not order.restored
    waiting = _events(P1, 21)
    asyncio.run(order.admit(waiting))
    order.assigned({P0, P1})
    assert not order.pending and waiting[0].message.refcount == 0
    order.restored = True
    # P1 starts again at its committed offset: 0..20 are read back
    got = asyncio.run(order.admit(_events(P1, 21))).ready
    assert kafka.reads == [(P1, 0, 21)] and len(got) == 22


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LABELS = TP("labels", 0)


def _watched(kafka: _Kafka, clock: _Clock, max_read: int = 10_000) -> OffsetOrder:
    order = OffsetOrder(kafka.starts, kafka.read, topic="clean", max_read=max_read, clock=clock)
    order.assigned({P0, P1, LABELS})
    order.restored = True
    return order


def _stalled(order: OffsetOrder, highwaters: dict[TP, int]) -> list[Any]:
    handled: list[Any] = []

    async def handle(events: list[Any]) -> None:
        assert order.lock.locked()  # processed as the agent would, never beside it
        handled.extend(events)

    async def highwater(tp: TP) -> int | None:
        return highwaters.get(tp)

    asyncio.run(order.stalled(15.0, highwater, handle))
    return handled


def test_records_past_a_quiet_partitions_expected_offset_are_read_back() -> None:
    kafka, clock = _Kafka({}), _Clock()
    order = _watched(kafka, clock)
    order.plan(_events(P0, *range(10, 50)) + _events(P1, 7))
    clock.now += 14
    order.plan(_events(P1, 8))  # Faust goes on delivering the topic's other partition
    assert _stalled(order, {P0: 80, P1: 9}) == []  # not quiet long enough yet
    clock.now += 2
    order.plan(_events(P1, 9))
    got = _stalled(order, {P0: 80, P1: 10})  # P1: nothing there past what was delivered
    assert _offsets(got) == [(0, o) for o in range(50, 80)]
    assert all(e.message.refcount == 1 for e in got)
    assert kafka.reads == [(P0, 50, 80)] and order.next == {P0: 80, P1: 10}
    clock.now += 16
    order.plan(_events(P1, 10))
    assert _stalled(order, {P0: 80, P1: 11}) == []  # nothing more arrived


def test_a_partition_that_delivered_nothing_is_read_back_from_its_committed_offset_in_bounded_reads() -> None:
    kafka, clock = _Kafka({P1: 300}), _Clock()
    order = _watched(kafka, clock, max_read=40)
    clock.now += 15
    order.plan(_events(P0, 0))
    got = _stalled(order, {P1: 400})
    assert kafka.reads == [(P1, 300, 340)] and _offsets(got)[0] == (1, 300)
    # the read counts as progress: the rest follows once it is quiet again
    assert _stalled(order, {P1: 400}) == []
    clock.now += 15
    order.plan(_events(P0, 1))
    _stalled(order, {P1: 400})
    assert kafka.reads[-1] == (P1, 340, 380)


def test_nothing_is_read_back_before_the_tables_are_restored_or_while_events_keep_coming() -> None:
    kafka, clock = _Kafka({P0: 0}), _Clock()
    order = _watched(kafka, clock)
    order.restored = False
    clock.now += 60
    assert _stalled(order, {P0: 100}) == []
    order.restored = True
    order.plan(_events(P0, 0, 1, 2))  # the agent is moving: Faust's buffer holds the rest
    clock.now += 5
    assert _stalled(order, {P0: 100}) == [] and not kafka.reads


def test_a_faust_that_delivers_nothing_at_all_is_slow_not_skipping() -> None:
    """Faust slow to start (or its loop busy): no read-back while it delivers nothing anywhere, until
    the safety net after 8 × the quiet time; Faust's deliveries of what was read back then count as
    progress, so no second read-back follows while it catches up."""
    kafka, clock = _Kafka({P0: 0}), _Clock()
    order = _watched(kafka, clock, max_read=100)
    clock.now += 100
    assert _stalled(order, {P0: 1000}) == [] and not kafka.reads
    clock.now += 20
    assert _offsets(_stalled(order, {P0: 1000})) == [(0, o) for o in range(100)]
    for offset in range(0, 100, 10):  # Faust delivers 0..99 over the next 30 s
        clock.now += 3
        order.plan(_events(P0, *range(offset, offset + 10)))
        assert _stalled(order, {P0: 1000}) == []
    assert kafka.reads == [(P0, 0, 100)] and order.next[P0] == 100
    clock.now += 15  # silent again while Faust delivers the other partition: now a stall
    order.plan(_events(P1, 0))
    assert _offsets(_stalled(order, {P0: 1000}))[0] == (0, 100)


def test_records_fetched_but_never_delivered_are_read_back_though_nothing_else_moves() -> None:
    """The restart case: aiokafka has fetched past the expected offset, Faust delivers nothing."""
    kafka, clock = _Kafka({P0: 0}), _Clock()
    order = _watched(kafka, clock)
    order.plan(_events(P0, 99))  # delivered up to 99 before the silence
    clock.now += 15
    handled: list[Any] = []

    async def handle(events: list[Any]) -> None:
        handled.extend(events)

    async def highwater(tp: TP) -> int | None:
        return 150

    asyncio.run(order.stalled(15.0, highwater, handle, fetched=lambda tp: 100 if tp == P0 else None))
    assert not handled
    asyncio.run(order.stalled(15.0, highwater, handle, fetched=lambda tp: 150 if tp == P0 else None))
    assert _offsets(handled)[0] == (0, 100) and len(handled) == 50
