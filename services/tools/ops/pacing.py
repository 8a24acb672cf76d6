"""Pacing of a replay: as fast as possible, N events per second, or X times event time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Pacer"]


@dataclass
class Pacer:
    """Says how long to wait before sending an event; at most one of rate and speed is set."""

    rate: float | None = None
    speed: float | None = None
    clock: Callable[[], float] = time.monotonic
    _start_wall: float | None = field(default=None, init=False)
    _start_event_us: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate is not None and self.speed is not None:
            raise ValueError("give --rate or --speed, not both")
        if (self.rate is not None and self.rate <= 0) or (self.speed is not None and self.speed <= 0):
            raise ValueError("--rate and --speed must be positive")

    def delay(self, index: int, event_time_us: int) -> float:
        """Seconds to wait before event number `index` (0-based) with this event time."""
        now = self.clock()
        if self._start_wall is None:
            self._start_wall, self._start_event_us = now, event_time_us
        if self.rate is not None:
            due = self._start_wall + index / self.rate
        elif self.speed is not None:
            assert self._start_event_us is not None
            due = self._start_wall + (event_time_us - self._start_event_us) / 1e6 / self.speed
        else:
            return 0.0
        return max(0.0, due - now)
