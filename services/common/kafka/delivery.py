"""Produce a batch of outputs and wait until every one is acknowledged (acks=all) or has failed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from confluent_kafka import KafkaError, KafkaException
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from services.common.contracts import encode
from services.common.errors import TransientError
from services.common.kafka.envelope import Output, header
from services.common.telemetry import extract_context, inject_context

__all__ = ["DeliveryFailure", "ProducerLike", "deliver", "flush_all", "produce_all", "produce_one"]

_tracer = trace.get_tracer("rtloop.runner")


class ProducerLike(Protocol):
    """What the runner needs of a producer (confluent_kafka.Producer satisfies it)."""

    def produce(self, *args: Any, **kwargs: Any) -> Any: ...
    def poll(self, *args: Any, **kwargs: Any) -> Any: ...
    def flush(self, *args: Any, **kwargs: Any) -> Any: ...


class DeliveryFailure(NamedTuple):
    """An output the broker refused, with librdkafka's error."""

    output: Output
    error: KafkaError


def _headers(out: Output, span_name: str) -> list[tuple[str, bytes]] | None:
    src = out.source
    if src is not None and header(src.headers, "traceparent") is not None:
        headers = list(out.headers)
        parent = extract_context(src.headers)
        with _tracer.start_as_current_span(span_name, context=parent, kind=SpanKind.CONSUMER):
            inject_context(headers)
        return headers
    return list(out.headers) if out.headers else None  # None: librdkafka skips the header conversion


def produce_all(producer: ProducerLike, outputs: Sequence[Output], *, service: str) -> list[DeliveryFailure]:
    """Hand every output to the producer; the returned list fills with the failed ones as their delivery
    reports are served (by flush or poll)."""
    failures: list[DeliveryFailure] = []
    span_name = f"{service} process"
    for out in outputs:
        value = out.value if out.value is None or isinstance(out.value, bytes) else encode(out.value)

        def on_delivery(err: KafkaError | None, _msg: Any, out: Output = out) -> None:
            if err is not None:
                failures.append(DeliveryFailure(out, err))

        headers = _headers(out, span_name)
        record: dict[str, Any] = {
            "value": value,
            "key": out.key,
            "headers": headers,
            "on_delivery": on_delivery,
        }
        if out.partition is not None:
            record["partition"] = out.partition
        error = produce_one(producer, out.topic, **record)
        if error is not None:
            failures.append(DeliveryFailure(out, error))
    return failures


def produce_one(producer: ProducerLike, topic: str, **record: Any) -> KafkaError | None:
    """Hand one record to the producer, serving delivery reports while its queue is full; the error
    when librdkafka refuses it at once (None: queued, its delivery report comes later)."""
    while True:
        try:
            producer.produce(topic, **record)
            return None
        except BufferError:
            producer.poll(0.05)
        except KafkaException as exc:
            return exc.args[0]  # type: ignore[no-any-return]


def flush_all(producer: ProducerLike, timeout_s: float) -> None:
    """Wait until everything produced is acknowledged; a timeout is transient."""
    remaining = producer.flush(timeout_s)
    if remaining:
        raise TransientError(f"{remaining} outputs not acknowledged within {timeout_s:.0f}s")


def deliver(
    producer: ProducerLike, outputs: Sequence[Output], *, timeout_s: float, service: str
) -> list[DeliveryFailure]:
    """Produce all outputs, flush, and return the ones that failed; a timeout is transient."""
    failures = produce_all(producer, outputs, service=service)
    flush_all(producer, timeout_s)
    return failures
