"""The runner's decode stage: raw messages → envelopes, or (envelope, error) pairs for the DLQ."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from services.common.errors import DecodeError, PermanentError
from services.common.kafka.envelope import Envelope, KafkaMessage

__all__ = ["Decoded", "Decoder", "decode_batch", "json_object"]

Decoder = Callable[[bytes], Any]
Failed = list[tuple[Envelope[Any], BaseException]]


def json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object, or DecodeError (invalid_json) saying what it is instead."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("invalid_json", f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DecodeError("invalid_json", "a JSON object is required")
    return doc


class Decoded:
    """The outcome of decoding one batch."""

    __slots__ = ("failed", "good", "per_topic")

    def __init__(self) -> None:
        self.good: list[Envelope[Any]] = []
        self.failed: Failed = []
        self.per_topic: Counter[str] = Counter()


def decode_batch(
    messages: Sequence[KafkaMessage], decoders: Mapping[str, Decoder], max_value_bytes: int
) -> Decoded:
    """Decode each message with its topic's decoder; oversized and invalid values fail alone."""
    out = Decoded()
    for msg in messages:
        topic, raw = msg.topic() or "", msg.value() or b""
        out.per_topic[topic] += 1
        failure: PermanentError | None = None
        value = None
        try:
            if len(raw) > max_value_bytes:
                raise DecodeError("too_large", f"value of {len(raw)} bytes exceeds {max_value_bytes}")
            value = decoders[topic](raw)
        except PermanentError as exc:
            failure = exc
        headers = msg.headers()
        env = Envelope(  # positional: a named tuple's keyword arguments cost twice as much per message
            value,
            msg.key(),
            tuple(headers) if headers else (),
            topic,
            msg.partition() or 0,
            msg.offset() or 0,
            msg.timestamp()[1],
            raw,
        )
        if failure is None:
            out.good.append(env)
        else:
            out.failed.append((env, failure))
    return out
