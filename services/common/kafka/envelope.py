"""Typed, frozen messages: what handlers receive (Envelope) and what they return (Output)."""

from __future__ import annotations

from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from pydantic import BaseModel

__all__ = ["Envelope", "Headers", "KafkaMessage", "Output", "header"]

T = TypeVar("T")
Headers = tuple[tuple[str, bytes], ...]


class KafkaMessage(Protocol):
    """The part of a client's message the runner reads (confluent_kafka.Message satisfies it)."""

    def error(self) -> Any: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes]] | None: ...
    def timestamp(self) -> tuple[int, int]: ...


class Envelope(NamedTuple, Generic[T]):
    """One decoded input message with its Kafka coordinates (a named tuple: immutable, and built per
    message at less than half the cost of a frozen dataclass)."""

    value: T
    key: bytes | None
    headers: Headers
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    raw: bytes = b""


class Output(NamedTuple):
    """One message a handler wants produced; `source` continues the input's trace context; `partition`
    None: the producer's partitioner picks it by key."""

    topic: str
    value: BaseModel | bytes | None  # None: a tombstone (compacted topics)
    key: bytes | str | None = None
    headers: Headers = ()
    source: Envelope[Any] | None = None
    partition: int | None = None


def header(headers: Headers | list[tuple[str, bytes]] | None, name: str) -> bytes | None:
    """The last value of header `name`, or None."""
    found = None
    for k, v in headers or ():
        if k == name:
            found = v
    return found
