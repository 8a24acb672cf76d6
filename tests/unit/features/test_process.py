"""Processing: re-deliveries are not featurized again, and are acked only through the pipeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from services.common.contracts import encode
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.pipeline import Batch
from services.features.adapters.process import Processing
from services.features.config import FeaturesSettings
from tests.factories import clean_tx
from tests.features_helpers import fraud_engine


class _Event:
    def __init__(self, offset: int, day: int) -> None:
        tx = clean_tx(offset, datetime(2018, 4, day, tzinfo=UTC), amount=10.0)
        self.message = SimpleNamespace(value=encode(tx), partition=0, offset=offset, key=b"c1", headers=())
        self.acks = 0

    def ack(self) -> None:
        self.acks += 1


class _Gate:
    timeouts = 0

    async def wait_until(self, ts: float) -> float:
        return 0.0


class _Pipeline:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def submit(self, batch: Batch) -> None:
        self.batches.append(batch)


class _Outputs:
    async def flush(self) -> None:
        return None


def test_repeats_are_not_featurized_again_and_wait_for_the_pipeline_to_ack_them() -> None:
    customers: dict[str, Any] = {}
    engine = fraud_engine(customers, {})
    pipeline = _Pipeline()
    process = Processing(
        FeaturesSettings(),
        engine,
        _Gate(),
        pipeline,
        FeaturesMetrics(),
        _Outputs(),
        _Outputs(),  # type: ignore[arg-type]
    )
    first = [_Event(0, 1), _Event(1, 20)]
    asyncio.run(process.transactions(first))
    state = list(customers["c1"].ids)
    again, new = [_Event(0, 1)], [_Event(2, 21)]
    asyncio.run(process.transactions(new, repeats=again))
    latest = pipeline.batches[-1]
    assert [c.event_id for c in latest.computed] == ["t2"]  # t0 is not computed again
    assert set(map(id, latest.events)) == {id(e) for e in again + new}  # acked by the pipeline
    assert customers["c1"].ids == [*state, "t2"]
    asyncio.run(process.transactions([], repeats=[_Event(1, 20)]))  # re-deliveries alone
    assert len(pipeline.batches) == 3 and not pipeline.batches[-1].computed
    assert all(e.acks == 0 for b in pipeline.batches for e in b.events)  # none acked on the spot
