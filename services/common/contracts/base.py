"""Building blocks shared by the wire contracts: the strict base model and the field types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

__all__ = [
    "Contract",
    "EventTime",
    "Timestamp",
    "parse_event_time",
]


def parse_event_time(value: Any) -> Any:
    """Accept RFC 3339 strings or epoch milliseconds (int); anything else is left to fail strictly."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"epoch milliseconds out of range: {value}") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an RFC 3339 timestamp: {value[:40]!r}") from None
        if parsed.tzinfo is None:
            raise ValueError(f"timestamp without a UTC offset: {value[:40]!r}")
        return parsed
    return value


EventTime = Annotated[  # its schema says both forms (v1's said only the string, though both were accepted)
    datetime,
    BeforeValidator(parse_event_time),
    WithJsonSchema(
        {
            "anyOf": [{"format": "date-time", "type": "string"}, {"type": "integer"}],
            "description": "RFC 3339 with an offset, or epoch milliseconds",
        }
    ),
]
Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_event_time),
    Field(description="RFC 3339 with an offset, or epoch milliseconds"),
]


class Contract(BaseModel):
    """A versioned wire model: strict types, frozen, unknown fields rejected unless a contract allows."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
