"""Retry with capped exponential backoff for transient errors; permanent errors pass through."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from services.common.errors import RtloopError, is_transient

__all__ = ["Backoff", "Interrupted", "retry_transient"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Interrupted(RtloopError):
    """A stop was requested while waiting to retry: the batch is abandoned uncommitted."""


@dataclass(frozen=True)
class Backoff:
    """Delays of initial_s, ×factor each attempt, at most max_s; forever (nothing is dropped)."""

    initial_s: float = 0.2
    max_s: float = 5.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        return float(min(self.max_s, self.initial_s * self.factor**attempt))


def retry_transient(
    fn: Callable[[], T],
    *,
    backoff: Backoff,
    stop: threading.Event,
    what: str,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Call fn until it succeeds or raises a permanent error; transient ones wait and retry."""
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = backoff.delay(attempt)
            log.warning("%s failed (transient, retry %d in %.1fs): %s", what, attempt + 1, delay, exc)
            if on_retry:
                on_retry(exc)
            attempt += 1
            if stop.wait(delay):
                raise Interrupted(f"stop requested while retrying {what}") from exc
