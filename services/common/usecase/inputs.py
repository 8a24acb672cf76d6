"""A declaration's event inputs as one function: event and its time (epoch seconds) → input values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from services.common.usecase.schema import EventInput

__all__ = ["EventInputs", "event_inputs"]

EventInputs = Callable[[Any, int], dict[str, float]]


def event_inputs(specs: Sequence[EventInput]) -> EventInputs | None:
    """The inputs computed from the event alone (None when there are none); calendar flags in UTC."""
    if not specs:
        return None
    plan = [(s.name, s.kind, s.field, s.hours) for s in specs]
    calendar = any(s.kind != "value" for s in specs)

    def compute(event: Any, ts: int) -> dict[str, float]:
        moment = datetime.fromtimestamp(ts, UTC) if calendar else None
        out: dict[str, float] = {}
        for name, kind, field, hours in plan:
            if kind == "value":
                out[name] = float(getattr(event, field))  # type: ignore[arg-type]
            elif kind == "weekend":
                out[name] = float(moment.weekday() >= 5)  # type: ignore[union-attr]
            else:
                out[name] = float(hours[0] <= moment.hour <= hours[1])  # type: ignore[index,union-attr]
        return out

    return compute
