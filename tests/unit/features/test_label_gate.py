"""LabelGate: a batch waits for the labels stream to reach its event time, never for a drained partition."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from services.features.adapters.gate import LabelGate

HIGH = {0: 100, 1: 50}


async def _highwaters(partitions: list[int]) -> Mapping[int, int]:
    return {p: HIGH[p] for p in partitions}


def _gate(resume: Mapping[int, int], wait_s: float = 0.2) -> LabelGate:
    async def starts(partitions: list[int]) -> Mapping[int, int]:
        return {p: resume[p] for p in partitions}

    gate = LabelGate(wait_s, _highwaters, starts)
    gate.assign([0, 1])
    return gate


def test_a_partition_read_to_its_end_before_a_restart_is_not_waited_on() -> None:
    gate = _gate({0: 100, 1: 50})  # the group had read both partitions to their ends
    assert asyncio.run(gate.wait_until(1_000.0)) < 0.1
    assert gate.timeouts == 0


def test_a_batch_waits_until_a_later_label_arrives() -> None:
    gate = _gate({0: 100, 1: 10})  # partition 1 still holds labels to read

    async def scenario() -> float:
        async def label_later() -> None:
            await asyncio.sleep(0.05)
            gate.observe(1, 10, 2_000.0)
            gate.notify()

        task = asyncio.create_task(label_later())
        waited = await gate.wait_until(1_000.0)
        await task
        return waited

    waited = asyncio.run(scenario())
    assert 0.04 < waited < 0.2 and gate.timeouts == 0


def test_a_partition_that_never_gets_there_times_out_and_is_counted() -> None:
    gate = _gate({0: 100, 1: 10}, wait_s=0.05)
    assert asyncio.run(gate.wait_until(1_000.0)) >= 0.05
    assert gate.timeouts == 1


def test_labels_partitions_are_read_back_before_a_waiting_transaction_gives_up() -> None:
    from services.features.config import FeaturesSettings

    assert FeaturesSettings(label_wait_ms=10_000, stall_after_s=15).labels_stall_after_s == 5.0
    assert FeaturesSettings(label_wait_ms=60_000, stall_after_s=15).labels_stall_after_s == 15.0
    assert FeaturesSettings(label_wait_ms=0, stall_after_s=15).labels_stall_after_s == 15.0
