"""OpenTelemetry set-up from the standard OTEL_* variables, and the gRPC instrumentation."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator, Mapping

import grpc
from google.protobuf import descriptor_pool
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

from aegis.v1 import common_pb2
from aegis_runtime.logging import request_id_var

log = logging.getLogger(__name__)

# The header that carries a call's request id across services.
REQUEST_ID_HEADER = "x-request-id"


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
    """Install a tracer provider for this process when OTEL_TRACES_EXPORTER names an
    exporter, unless one is installed already.

    With none (the default) no span is made anywhere: the interceptors that would make them
    are left out (they cost a measurable share of a Score's CPU on every hop), and decisions
    carry no trace id. With an exporter every Score is one trace across its hops, its trace
    id kept in the audit record.
    """
    if tracing_enabled():
        return
    exporter = _exporter_from_env()
    if exporter is None:
        return
    name = os.environ.get("OTEL_SERVICE_NAME", service)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    tracing_enabled.cache_clear()


@functools.cache
def tracing_enabled() -> bool:
    """Whether this process records spans (a tracer provider is installed: by
    configure_tracing, or by a test that collects them before it serves).

    Asked once: it is asked on every batch call, and OpenTelemetry's own answer reads the
    environment on every call while no provider is installed (~2% of the router's CPU at
    20 Scores/s). A provider, once installed, cannot be replaced."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def server_interceptors() -> list:
    # Lanes are traced per batch (server_span), each in its own Score's trace. A span of the
    # whole stream would sit in its first batch's trace for the stream's life, and the
    # instrumentation leaves its context to be detached by another task when a stream is cut
    # ("Failed to detach context"): lanes go without it.
    return [aio_server_interceptor(filter_=_not_a_lane)] if tracing_enabled() else []


def _not_a_lane(details: grpc.HandlerCallDetails) -> bool:
    return not is_lane(details.method)


@functools.cache
def is_lane(path: str) -> bool:
    """Whether the method at `path` is a lane's stream (aegis_runtime.lanes): one whose
    requests carry a StreamBatchHeader."""
    try:
        method = descriptor_pool.Default().FindMethodByName(path.lstrip("/").replace("/", "."))
    except KeyError:
        return False
    header = method.input_type.fields_by_name.get("header")
    return header is not None and header.message_type is common_pb2.StreamBatchHeader.DESCRIPTOR


def client_interceptors() -> list:
    return list(aio_client_interceptors()) if tracing_enabled() else []


def method_path(service: str, method: str) -> str:
    """gRPC's path of a method, "/aegis.v1.AgentService/AssessBatch": the span name the
    gRPC instrumentation gives a call."""
    return f"/{service}/{method}"


def _rpc_attributes(path: str) -> dict[str, str]:
    service, _, method = path.lstrip("/").partition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}


@contextlib.contextmanager
def batch_call_span(path: str, batch_size: int) -> Iterator[list[tuple[str, str]]]:
    """A client span for one batch call, and the metadata that carries it (and the request
    id) to the server.

    The router's batch calls are instrumented here rather than by client interceptors: grpc's
    aio interceptors wrap every call in a task of its own, which measured ~0.2 ms of CPU a
    call (bench/, `python -m bench.run`). A batch call carries the requests of several
    Scores: it is traced in the first one's trace, with the batch size as an attribute.
    """
    metadata: list[tuple[str, str]] = []
    if request_id := request_id_var.get():
        metadata.append((REQUEST_ID_HEADER, request_id))
    if not tracing_enabled():
        yield metadata
        return
    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span(
        path,
        kind=trace.SpanKind.CLIENT,
        attributes={**_rpc_attributes(path), "aegis.batch_size": batch_size},
    ):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield [*carrier.items(), *metadata]


@contextlib.contextmanager
def server_span(path: str, carrier: Mapping[str, str]) -> Iterator[None]:
    """The server span of one batch that came on a stream (aegis_runtime.lanes), in the trace
    its header carries: what the server interceptor makes for a unary call. None when
    tracing is off."""
    if not tracing_enabled():
        yield
        return
    with trace.get_tracer(__name__).start_as_current_span(
        path, context=propagate.extract(carrier), kind=trace.SpanKind.SERVER,
        attributes=_rpc_attributes(path),
    ):
        yield
