"""Ways to damage a transaction message, for tests and demos of the dead-letter path (pure)."""

from __future__ import annotations

import orjson

__all__ = ["CORRUPTION_KINDS", "OVERSIZED_BYTES", "corrupt"]

OVERSIZED_BYTES = 2 * 1024 * 1024
CORRUPTION_KINDS = (
    "malformed_json",
    "truncated_json",
    "wrong_types",
    "missing_fields",
    "non_utf8",
    "empty_value",
    "oversized",
)


def corrupt(value: bytes, kind: str) -> bytes:
    """A broken copy of a valid Transaction v1 value."""
    if kind == "malformed_json":
        return value.replace(b'":', b'" ', 1)
    if kind == "truncated_json":
        return value[: max(1, len(value) // 2)]
    if kind == "wrong_types":
        doc = orjson.loads(value)
        doc["amount"], doc["customer_id"] = str(doc["amount"]), int(doc["customer_id"])
        return orjson.dumps(doc)
    if kind == "missing_fields":
        doc = orjson.loads(value)
        doc.pop("terminal_id"), doc.pop("event_time")
        return orjson.dumps(doc)
    if kind == "non_utf8":
        return value.replace(b'"tx_id":"', b'"tx_id":"\xff\xfe', 1)
    if kind == "empty_value":
        return b""
    if kind == "oversized":
        doc = orjson.loads(value)
        doc["padding"] = "x" * OVERSIZED_BYTES
        return orjson.dumps(doc)
    raise ValueError(f"unknown corruption kind {kind!r}; choose from {', '.join(CORRUPTION_KINDS)}")
