"""Dead-letter outputs: the original bytes plus headers that say what failed, where and why."""

from __future__ import annotations

from services.common.kafka.envelope import Headers, Output

__all__ = ["DLQ_HEADERS", "dead_letter"]

DLQ_HEADERS = (
    "rtloop.error.class",
    "rtloop.error.reason",
    "rtloop.error.message",
    "rtloop.service",
    "rtloop.source.topic",
    "rtloop.source.partition",
    "rtloop.source.offset",
)
_MAX_MESSAGE = 2000


def dead_letter(
    *,
    dlq_topic: str,
    service: str,
    error: BaseException,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
) -> Output:
    """An Output carrying the failed message unchanged to the dead-letter topic."""
    reason = getattr(error, "reason", None) or "handler_error"
    meta = (
        type(error).__name__,
        reason,
        str(error)[:_MAX_MESSAGE] or type(error).__name__,
        service,
        topic,
        str(partition),
        str(offset),
    )
    dlq_headers = tuple(headers) + tuple(
        (name, v.encode("utf-8", "replace")) for name, v in zip(DLQ_HEADERS, meta, strict=True)
    )
    return Output(topic=dlq_topic, value=value or b"", key=key, headers=dlq_headers)
