"""Pure logic of echo: which output each valid event becomes."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from services.common.usecase import UseCase

__all__ = ["echo_key"]


def echo_key(declared: UseCase) -> Callable[[Any], str]:
    """Outputs keep the event's key (the declared event key), so per-key order holds downstream."""
    return attrgetter(declared.event.key)
