"""Decode and encode contract messages: bytes ↔ models with readable, field-level errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from services.common.errors import DecodeError

__all__ = ["decoder_for", "describe_validation_error", "encode"]

M = TypeVar("M", bound=BaseModel)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: `field.path: reason`, at most five."""
    parts = []
    for err in exc.errors()[:5]:
        path = ".".join(str(p) for p in err["loc"]) or "<value>"
        parts.append(f"{path}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def decoder_for(model: type[M]) -> Callable[[bytes], M]:
    """A function that turns a message value into `model`, raising DecodeError with the reason."""
    validate = model.model_validate

    def decode(value: bytes) -> M:
        if not value:
            raise DecodeError("empty_value", "empty value: expected a JSON object")
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            reason = "not_utf8" if "utf-8" in str(exc).lower() else "malformed_json"
            raise DecodeError(reason, f"{reason}: {exc}") from None
        if not isinstance(obj, dict):
            raise DecodeError("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
        try:
            return validate(obj)
        except ValidationError as exc:
            raise DecodeError("invalid", describe_validation_error(exc)) from None

    return decode


def encode(model: BaseModel) -> bytes:
    """Serialise a contract to compact JSON bytes."""
    return model.__pydantic_serializer__.to_json(model)
