"""Tiny stand-ins for librdkafka's message, consumer and producer, shaped by the runner's Protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StubMessage:
    """A consumed message."""

    _value: bytes | None
    _offset: int
    _topic: str = "in"
    _partition: int = 0
    _key: bytes | None = b"k"
    _headers: list[tuple[str, bytes]] | None = None

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_000)


@dataclass
class StubProducer:
    """Records produced messages; `fail_next` makes the next deliveries fail with that error."""

    log: list[str]
    produced: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[Any] = field(default_factory=list)
    _pending: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)

    def produce(self, topic: str, value: Any = None, key: Any = None, **kw: Any) -> None:
        self._pending.append(
            (
                kw.get("on_delivery"),
                {"topic": topic, "value": value, "key": key, "headers": kw.get("headers") or []},
            )
        )

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        for callback, msg in self._pending:
            err = self.fail_next.pop(0) if self.fail_next else None
            if err is None:
                self.produced.append(msg)
                self.log.append(f"delivered {msg['topic']}")
            if callback:
                callback(err, None)
        self._pending.clear()
        return 0


@dataclass
class StubConsumer:
    """Records commits."""

    log: list[str]
    commits: list[list[tuple[str, int, int]]] = field(default_factory=list)

    def subscribe(self, topics: list[str], **kw: Any) -> None: ...

    def consume(self, num_messages: int = 1, timeout: float = 0) -> list[Any]:
        return []

    def commit(self, offsets: Any = None, asynchronous: bool = True) -> list[Any]:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])
        self.log.append("commit")
        return []

    def close(self) -> None: ...


@dataclass
class StubKafkaError:
    """A librdkafka error for delivery callbacks."""

    is_retriable: bool
    text: str = "boom"

    def retriable(self) -> bool:
        return self.is_retriable

    def __str__(self) -> str:
        return self.text
