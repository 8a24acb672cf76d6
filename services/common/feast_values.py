"""Feast's online value format: a float or a list of text as the serialised ValueProto it stores, and
the fast decode of rows of 9-byte doubles (one C call, or one numpy call, per row or block)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from feast.protos.feast.types.Value_pb2 import StringList, Value
from numpy.typing import NDArray

__all__ = ["decode_list", "decode_value", "doubles", "encode_list", "encode_value", "row_unpacker"]

_DOUBLE_TAG = 0x29  # ValueProto.double_val: field 5, wire type 64-bit
_unpack_double = struct.Struct("<d").unpack_from
_TAGGED_DOUBLE = np.dtype([("tag", "u1"), ("value", "<f8")])  # packed: 9 bytes, as stored


_pack_double = struct.Struct("<d").pack


_DOUBLE_TAG_BYTE = bytes((_DOUBLE_TAG,))


def encode_value(value: float) -> bytes:
    """A float as Feast stores it: the serialised ValueProto with double_val set."""
    return _DOUBLE_TAG_BYTE + _pack_double(value)


def decode_value(raw: bytes | None) -> float | None:
    """A stored ValueProto as a float (None when missing or unset)."""
    if not raw:
        return None
    if len(raw) == 9 and raw[0] == _DOUBLE_TAG:
        return float(_unpack_double(raw, 1)[0])
    value = Value.FromString(raw)
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    return float(getattr(value, kind))


def encode_list(values: Sequence[str]) -> bytes:
    """A list of text as Feast stores an Array(String) value: the ValueProto with string_list_val set."""
    return bytes(Value(string_list_val=StringList(val=values)).SerializeToString())


def decode_list(raw: bytes | None) -> list[str] | None:
    """A stored Array(String) ValueProto as a list (None when missing or unset)."""
    if not raw:
        return None
    value = Value.FromString(raw)
    return list(value.string_list_val.val) if value.WhichOneof("val") == "string_list_val" else None


@lru_cache(maxsize=64)
def row_unpacker(n: int) -> Callable[[Sequence[bytes | None]], Sequence[float | None]]:
    """Decode a row of n stored values; all n are 9-byte doubles in the common case: one C call."""
    packed = struct.Struct("<" + "xd" * n)
    tags = bytes((_DOUBLE_TAG,)) * n

    def unpack(values: Sequence[bytes | None]) -> Sequence[float | None]:
        try:
            joined = b"".join(values)  # type: ignore[arg-type]
        except TypeError:  # a missing value
            return [decode_value(v) for v in values]
        if len(joined) == 9 * n and joined[::9] == tags:
            return packed.unpack(joined)
        return [decode_value(v) for v in values]

    return unpack


def doubles(values: list[bytes | None], n: int, k: int) -> NDArray[np.float64]:
    """n × k stored values as floats (NaN for a missing one)."""
    try:
        joined = b"".join(values)  # type: ignore[arg-type]
    except TypeError:  # a missing value: the slow path
        joined = b""
    if n and len(joined) == 9 * n * k:
        tagged = np.frombuffer(joined, dtype=_TAGGED_DOUBLE)
        if bool((tagged["tag"] == _DOUBLE_TAG).all()):
            return tagged["value"].astype(np.float64).reshape(n, k)
    decoded = [decode_value(v) for v in values]
    return np.array([np.nan if d is None else d for d in decoded], dtype=np.float64).reshape(n, k)
