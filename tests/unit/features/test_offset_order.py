"""OffsetOrder: events Faust delivers out of order around a rebalance are held, never processed past a gap."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.types import TP

from services.features.adapters.order import OffsetOrder

P0, P1 = TP("clean", 0), TP("clean", 1)


def _events(tp: TP, *offsets: int) -> list[Any]:
    return [SimpleNamespace(message=SimpleNamespace(tp=tp, offset=o, incref=_Calls())) for o in offsets]


class _Calls:
    def __init__(self) -> None:
        self.called = False

    def __call__(self) -> None:
        self.called = True


async def _nothing_committed(tps: list[TP]) -> dict[TP, int]:
    return {}


def _order() -> OffsetOrder:
    return OffsetOrder(_nothing_committed)


def _offsets(events: list[Any]) -> list[int]:
    return [e.message.offset for e in events]


def test_in_order_events_pass_and_a_jump_is_held_and_sought_back() -> None:
    order = _order()
    first = order.split(_events(P0, 10, 11, 12), recovered=True)
    assert _offsets(first.ready) == [10, 11, 12] and not first.held and not first.seek
    # 13..47 skipped: 48 and everything after it in this batch wait for the re-read from 13
    jumped = order.split(_events(P0, 48, 49) + _events(P1, 5), recovered=True)
    assert _offsets(jumped.held) == [48, 49]
    assert jumped.seek == {P0: 13}
    assert _offsets(jumped.ready) == [5]  # other partitions go on
    again = order.split(_events(P0, 13, 14), recovered=True)
    assert _offsets(again.ready) == [13, 14] and not again.seek


def test_redeliveries_pass_and_do_not_move_the_expected_offset_back() -> None:
    order = _order()
    order.split(_events(P0, 10, 11, 12), recovered=True)
    redelivered = order.split(_events(P0, 11, 12, 13), recovered=True)
    assert _offsets(redelivered.ready) == [11, 12, 13] and not redelivered.seek
    assert order.next[P0] == 14


def test_events_before_the_recovery_are_held_and_their_first_offset_is_expected() -> None:
    order = _order()
    early = order.split(_events(P0, 2494, 2495), recovered=False)
    assert _offsets(early.held) == [2494, 2495] and not early.ready
    # after the recovery Faust went on past them: read again from 2494
    late = order.split(_events(P0, 2566), recovered=True)
    assert late.seek == {P0: 2494} and _offsets(late.held) == [2566]
    assert _offsets(order.split(_events(P0, 2494), recovered=True).ready) == [2494]


def test_a_new_assignment_forgets_the_expected_offsets() -> None:
    order = _order()
    order.split(_events(P0, 10), recovered=True)
    order.forget()
    assert _offsets(order.split(_events(P0, 500), recovered=True).ready) == [500]


def test_the_re_read_clears_the_pending_seek() -> None:
    order = _order()
    order.split(_events(P0, 10), recovered=True)
    order._sought[P0] = 0.0  # admit() sought P0 back to 11 at t=0
    assert order.split(_events(P0, 40), recovered=True).seek == {P0: 11}
    assert P0 in order._sought
    order.split(_events(P0, 11), recovered=True)
    assert P0 not in order._sought


def test_a_first_event_past_the_committed_offset_is_held_and_sought_back() -> None:
    import asyncio

    sought: list[tuple[TP, int]] = []

    async def committed(tps: list[TP]) -> dict[TP, int]:
        return dict.fromkeys(tps, 2494)

    async def seek(tp: TP, offset: int) -> None:
        sought.append((tp, offset))

    done = SimpleNamespace(is_set=lambda: True)
    app: Any = SimpleNamespace(
        tables=SimpleNamespace(recovery=SimpleNamespace(completed=done, in_recovery=False)),
        consumer=SimpleNamespace(seek=seek),
    )
    order = OffsetOrder(committed)
    held = _events(P0, 2566, 2567)
    assert asyncio.run(order.admit(app, held)) == []
    assert sought == [(P0, 2494)]
    assert all(e.message.incref.called for e in held)
    assert _offsets(asyncio.run(order.admit(app, _events(P0, 2494)))) == [2494]
