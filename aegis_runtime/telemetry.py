"""OpenTelemetry set-up from the standard OTEL_* variables, and the gRPC instrumentation."""

from __future__ import annotations

import logging
import os

from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

log = logging.getLogger(__name__)


def _exporter_from_env() -> SpanExporter | None:
    """OTEL_TRACES_EXPORTER: none (default here: no collector on a laptop), console or otlp."""
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if choice in ("", "none"):
        return None
    if choice == "console":
        return ConsoleSpanExporter()
    if choice == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint from OTEL_EXPORTER_OTLP_ENDPOINT
    raise ValueError(f"OTEL_TRACES_EXPORTER={choice!r}: expected none, console or otlp")


def configure_tracing(service: str) -> None:
    """Install a tracer provider for this process unless one is installed already.

    Spans are always created (trace ids reach the audit record even with no exporter);
    exporting them is opt-in through OTEL_TRACES_EXPORTER.
    """
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    name = os.environ.get("OTEL_SERVICE_NAME", service)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    exporter = _exporter_from_env()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def server_interceptors() -> list:
    return [aio_server_interceptor()]


def client_interceptors() -> list:
    return list(aio_client_interceptors())
