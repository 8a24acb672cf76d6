"""The features consumer: fetches wait at the broker no longer than configured (Faust: 1.5 s), and
messages reach the streams without a task each, Faust's flow suspension still honoured."""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from services.features.adapters.fetch import bounded_fetch_transport


def _fetch_wait_ms(app: faust.App) -> int:
    """Build the aiokafka consumer the way a Faust worker does and read the fetch wait it will use."""

    def nothing(*_: Any) -> None:
        return None

    async def build() -> int:
        consumer = app.transport.create_consumer(
            callback=nothing, on_partitions_revoked=nothing, on_partitions_assigned=nothing
        )
        client = consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
        wait = int(client._fetch_max_wait_ms)
        await client.stop()
        return wait

    return asyncio.run(build())


def test_the_worker_consumer_fetches_with_the_configured_wait() -> None:
    app = faust.App("test-fetch-bounded", broker="kafka://127.0.0.1:9")
    app.transport = bounded_fetch_transport(app, 20)
    assert _fetch_wait_ms(app) == 20


def test_without_it_faust_holds_fetches_for_one_and_a_half_seconds() -> None:
    app = faust.App("test-fetch-default", broker="kafka://127.0.0.1:9")
    assert _fetch_wait_ms(app) == 1500  # what the transport exists to change


def _consumer(app: faust.App) -> Any:
    def nothing(*_: Any) -> None:
        return None

    return app.transport.create_consumer(
        callback=nothing, on_partitions_revoked=nothing, on_partitions_assigned=nothing
    )


def _hand_over(app: faust.App) -> tuple[list[int], list[int]]:
    """Faust's drain-loop call for one message whose handler does not suspend: (results, turns of
    the event loop before it returned)."""

    async def run() -> tuple[list[int], list[int]]:
        consumer = _consumer(app)
        turns: list[int] = []
        asyncio.get_running_loop().call_soon(turns.append, 1)

        async def on_message(n: int) -> int:
            return n * 2

        done = await consumer.wait_first(on_message(21), consumer.suspend_flow.wait())
        return list(done.results), list(turns)  # a copy: the loop turns again before it closes

    return asyncio.run(run())


def test_a_message_that_queues_at_once_is_handed_over_without_a_turn_of_the_loop() -> None:
    app = faust.App("test-fetch-handoff", broker="kafka://127.0.0.1:9")
    app.transport = bounded_fetch_transport(app, 20)
    assert _hand_over(app) == ([42], [])
    plain = faust.App("test-fetch-handoff-faust", broker="kafka://127.0.0.1:9")
    assert _hand_over(plain) == ([42], [1])  # Faust's tasks: the loop turns for every message


def test_a_handler_that_suspends_finishes_or_is_abandoned_when_the_flow_is_suspended() -> None:
    app = faust.App("test-fetch-suspend", broker="kafka://127.0.0.1:9")
    app.transport = bounded_fetch_transport(app, 20)

    async def run() -> tuple[Any, Any, list[str]]:
        consumer, loop = _consumer(app), asyncio.get_running_loop()
        gate, never, cancelled = asyncio.Event(), asyncio.Event(), []

        async def waits_then_returns(n: int) -> int:
            await gate.wait()
            await asyncio.sleep(0)
            return n + 1

        async def blocked() -> None:
            try:
                await never.wait()
            except asyncio.CancelledError:
                cancelled.append("handler")
                raise

        loop.call_later(0.02, gate.set)
        finished = await consumer.wait_first(waits_then_returns(41), consumer.suspend_flow.wait())
        loop.call_later(0.02, consumer.suspend_flow.set)  # a rebalance suspends the flow
        abandoned = await consumer.wait_first(blocked(), consumer.suspend_flow.wait())
        await asyncio.sleep(0.01)
        return finished.results, abandoned.results, cancelled

    finished, abandoned, cancelled = asyncio.run(run())
    assert finished == [42]
    assert abandoned == [True] and cancelled == ["handler"]  # the suspension won; the handler stopped
