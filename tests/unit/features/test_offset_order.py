"""OffsetOrder: a range Faust skipped is read back and processed in its place, in offset order."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

from services.features.adapters.order import Gap, OffsetOrder

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
    return [i if isinstance(i, Gap) else (i.message.tp.partition, i.message.offset) for i in items]


def test_a_jump_puts_the_gap_before_the_event_that_revealed_it() -> None:
    order = _order(_Kafka({}))
    assert _offsets(order.plan(_events(P0, 10, 11))) == [(0, 10), (0, 11)]
    planned = order.plan(_events(P0, 48) + _events(P1, 5) + _events(P0, 49))
    assert _offsets(planned) == [Gap(P0, 12, 48), (0, 48), (1, 5), (0, 49)]
    assert order.next == {P0: 50, P1: 6}


def test_redeliveries_pass_and_do_not_move_the_expected_offset_back() -> None:
    order = _order(_Kafka({}))
    order.plan(_events(P0, 10, 11, 12))
    assert _offsets(order.plan(_events(P0, 11, 12, 13))) == [(0, 11), (0, 12), (0, 13)]
    assert order.next[P0] == 14


def test_a_first_event_past_the_committed_offset_gets_the_range_read_back_first() -> None:
    kafka = _Kafka({P0: 2417})
    order = _order(kafka)
    got = asyncio.run(order.admit(_events(P0, 2422, 2423)))
    assert _offsets(got) == [(0, o) for o in range(2417, 2424)]
    assert kafka.reads == [(P0, 2417, 2422)]
    assert all(e.message.refcount == 1 for e in got)  # the caller acks each once


def test_events_before_the_tables_are_restored_wait_and_come_first_after() -> None:
    kafka = _Kafka({P0: 2380})
    order = OffsetOrder(kafka.starts, kafka.read)
    early = _events(P0, 2380, 2381)
    assert asyncio.run(order.admit(early)) == []
    assert all(e.message.refcount == 1 for e in early)  # kept from being acked
    order.restored = True
    got = asyncio.run(order.admit(_events(P0, 2382)))
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
    got = asyncio.run(order.admit(_events(P1, 21)))
    assert kafka.reads == [(P1, 0, 21)] and len(got) == 22
