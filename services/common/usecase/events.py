"""The declaration's event: its fields, their types and bounds, and its id, time and key."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["RESERVED_FIELDS", "EventSpec", "FieldSpec", "Spec"]

FieldType = Literal["id", "string", "number", "boolean", "timestamp"]
# Names the services add beside the event's fields: Kafka's columns in ingest, the lake tables' lineage,
# the clean, featurized and prediction contracts' own fields.
RESERVED_FIELDS = frozenset(
    "key value topic partition offset timestamp timestampType headers reason "  # noqa: SIM905
    "message kind event_date ingest_time source_partition source_offset kafka_topic kafka_partition "
    "kafka_offset kafka_timestamp features_written_at feature_service feature_event_time features "
    "online_features score decision threshold model_name model_version latency_ms scored_at shadow".split()
)


class Spec(BaseModel):
    """A declaration block: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(Spec):
    """One event field: `id` is a trimmed non-empty string; `timestamp` RFC 3339 with an offset or epoch
    milliseconds; `number` finite, within `min` (inclusive) and `below` (exclusive) when given."""

    type: FieldType
    required: bool = True
    min: float | None = None
    below: float | None = None
    max_length: int | None = Field(default=None, ge=1, description="ids and strings")
    pattern: str | None = Field(default=None, description="strings: a regular expression they match")
    default: str | float | bool | None = Field(default=None, description="the value of an absent field")
    case: Literal["upper", "lower"] | None = Field(default=None, description="strings: cleaning folds them")
    description: str = Field(default="", description="what the field means; its schemas say it")

    @model_validator(mode="after")
    def _fits_type(self) -> Self:
        if (self.min is not None or self.below is not None) and self.type != "number":
            raise ValueError("min and below bound numbers only")
        if (self.max_length or self.pattern) and self.type not in ("id", "string"):
            raise ValueError("max_length and pattern apply to ids and strings only")
        if self.case and self.type != "string":
            raise ValueError("case applies to strings only")
        if self.required and self.default is not None:
            raise ValueError("a default is for a field that is not required")
        return self


class EventSpec(Spec):
    """The event producers write: its fields, which one is its id, its event time and its key."""

    name: str = Field(
        min_length=1, pattern=r"^[a-z][a-z0-9_]*$", description="what one event is, e.g. 'transaction'"
    )
    description: str = Field(default="", description="its raw schema's description")
    fields: dict[str, FieldSpec] = Field(min_length=1)
    id: str
    time: str
    key: str = Field(description="the field the clean stream is keyed (partitioned) by")

    @model_validator(mode="after")
    def _roles(self) -> Self:
        for name in self.fields:
            if name in RESERVED_FIELDS or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
                raise ValueError(
                    f"fields: {name!r} is reserved or not a plain name (letters, digits, _): "
                    f"the services add {', '.join(sorted(RESERVED_FIELDS))}"
                )
        for role, want in (("id", ("id",)), ("time", ("timestamp",)), ("key", ("id", "string"))):
            name = getattr(self, role)
            spec = self.fields.get(name)
            if spec is None or spec.type not in want or not spec.required:
                raise ValueError(
                    f"{role} names {name!r}: it must be a required field of type {' or '.join(want)}"
                )
        return self

    @property
    def table(self) -> str:
        """Its Delta table in the lake (the name, plural); rejected ones go to `<table>_rejected`."""
        return f"{self.name}s"

    def numeric(self, name: str) -> bool:
        spec = self.fields.get(name)
        return spec is not None and spec.type == "number"
