"""Answered ids per input partition: what a transaction commits is remembered, what it aborts is not,
a new owner reads a partition's ids back, and the window and the bound say what is forgotten."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.kafka.envelope import Output
from services.common.kafka.seen import SeenIds


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class StateTopic:
    """The committed records of the state topic, per partition (what a read_committed reader sees)."""

    def __init__(self) -> None:
        self.parts: dict[int, list[tuple[str, bytes | None]]] = {}
        self.in_flight: list[Output] = []

    def records(self, _topic: str, partition: int) -> Sequence[tuple[str, bytes | None]]:
        return self.parts.get(partition, [])

    def commit(self) -> None:
        for out in self.in_flight:
            assert isinstance(out.value, bytes) and out.partition is not None
            self.parts.setdefault(out.partition, []).append(((out.key or b"").decode(), out.value))
        self.in_flight = []


def _owner(topic: StateTopic, clock: Clock, window_s: float = 60, per_partition: int = 100) -> SeenIds:
    return SeenIds("g.seen", topic.records, window_s=window_s, per_partition=per_partition, clock=clock)


def test_committed_ids_are_known_to_the_next_owner_and_aborted_ones_to_nobody() -> None:
    topic, clock = StateTopic(), Clock()
    first = _owner(topic, clock)
    first.assigned([0, 1])
    topic.in_flight.append(first.answered(0, 10, ["a", "b"]))
    assert first.known(0, "a") and not first.known(1, "a"), "pending ids count, in their partition only"
    first.aborted()
    topic.in_flight = []
    assert not first.known(0, "a"), "an aborted batch comes again and must be answered"
    out = first.answered(0, 10, ["a", "b"])
    assert (out.topic, out.partition, out.key) == ("g.seen", 0, b"10"), "partition p's state is in p"
    topic.in_flight.append(out)
    topic.commit()
    first.committed()
    topic.in_flight.append(first.answered(1, 5, ["c"]))  # killed before this commits
    assert first.known(0, "b") and first.known(1, "c")
    second = _owner(topic, clock)  # a restart, a scale step or a rollout: partition 0 moves
    second.assigned([0, 1])
    assert second.known(0, "a") and second.known(0, "b")
    assert not second.known(1, "c"), "what the kill left uncommitted was not answered"
    first.revoked([0])
    assert not first.known(0, "a") and first.known(1, "c")


def _answer(seen: SeenIds, topic: StateTopic, offset: int, ids: list[str]) -> None:
    topic.in_flight.append(seen.answered(0, offset, ids))
    topic.commit()
    seen.committed()


def test_ids_expire_after_the_window_and_the_bound_forgets_the_oldest_first() -> None:
    topic, clock = StateTopic(), Clock()
    seen = _owner(topic, clock, window_s=60, per_partition=4)
    _answer(seen, topic, 0, ["a", "b"])  # at 1000
    clock.now += 31
    _answer(seen, topic, 2, ["c", "d"])  # at 1031
    assert seen.span_s() == 60 and seen.size() == 4
    clock.now += 31
    _answer(seen, topic, 4, ["e"])  # at 1062: "a", "b" are past the window
    assert not seen.known(0, "a") and seen.known(0, "c") and seen.known(0, "e")
    assert seen.forgotten_early == 0
    clock.now += 10
    _answer(seen, topic, 5, ["f", "g"])  # at 1072: five ids, over the bound
    assert not seen.known(0, "c") and not seen.known(0, "d"), "the oldest batch goes first"
    _answer(seen, topic, 7, ["h"])
    assert all(seen.known(0, i) for i in "efgh") and seen.forgotten_early == 2
    assert seen.span_s() == 10, "the bound cut the window to the age of the oldest id kept"
    clock.now += 53  # 1125: "e" (1062) is past the window, "f".."h" (1072) are not
    reread = _owner(topic, clock, window_s=60, per_partition=4)
    reread.assigned([0])
    assert sorted(i for i in "abcdefgh" if reread.known(0, i)) == ["f", "g", "h"]
