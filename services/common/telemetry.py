"""OpenTelemetry: tracer setup from settings and W3C traceparent carried in Kafka headers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.common.config import TelemetrySettings

__all__ = ["extract_context", "inject_context", "setup_tracing"]

_PROPAGATOR = TraceContextTextMapPropagator()


class _HeaderGetter(Getter[Any]):
    def get(self, carrier: Any, key: str) -> list[str] | None:
        for k, v in carrier:
            if k == key:
                return [v.decode("latin-1") if isinstance(v, bytes) else str(v)]
        return None

    def keys(self, carrier: Any) -> list[str]:
        return [k for k, _ in carrier]


class _HeaderSetter(Setter[list[tuple[str, bytes]]]):
    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        carrier[:] = [(k, v) for k, v in carrier if k != key]
        carrier.append((key, value.encode("latin-1")))


def extract_context(headers: Iterable[tuple[str, bytes]]) -> Context:
    """The trace context a message's headers carry (empty when none)."""
    return _PROPAGATOR.extract(tuple(headers), getter=_HeaderGetter())


def inject_context(headers: list[tuple[str, bytes]], context: Context | None = None) -> None:
    """Write the current (or given) span's traceparent into `headers`, in place."""
    _PROPAGATOR.inject(headers, context=context, setter=_HeaderSetter())


def setup_tracing(settings: TelemetrySettings, service: str) -> None:
    """Install an SDK tracer provider with the configured exporter; `none` keeps the no-op API."""
    if settings.exporter == "none":
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    exporter: SpanExporter
    if settings.exporter == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.endpoint.rstrip("/") + "/v1/traces")
    provider = TracerProvider(resource=Resource.create({"service.name": f"rtloop-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
