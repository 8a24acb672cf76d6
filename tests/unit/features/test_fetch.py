"""The features consumer's fetch requests wait at the broker no longer than configured (Faust: 1.5 s)."""

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
