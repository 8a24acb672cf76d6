"""Thin handler of echo: envelopes in, outputs out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.common.kafka import Envelope, Output
from services.echo.transforms import echo_key

__all__ = ["make_handler"]


def make_handler(output_topic: str) -> Any:
    """A handler that republishes every decoded transaction's original bytes."""

    def handle(batch: Sequence[Envelope[Any]]) -> list[Output]:
        return [Output(output_topic, env.raw, key=echo_key(env.value), source=env) for env in batch]

    return handle
