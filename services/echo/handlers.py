"""Thin handler of echo: envelopes in, outputs out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from services.common.kafka import Envelope, Output

__all__ = ["make_handler"]


def make_handler(output_topic: str, key: Callable[[Any], str]) -> Any:
    """A handler that republishes every decoded event's original bytes under its key."""

    def handle(batch: Sequence[Envelope[Any]]) -> list[Output]:
        return [Output(output_topic, env.raw, key=key(env.value), source=env) for env in batch]

    return handle
