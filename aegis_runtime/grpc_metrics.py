"""gRPC server and client metrics after OpenTelemetry's RPC semantic conventions: the duration
of every call (rpc.server.duration, rpc.client.duration; seconds) by rpc.service, rpc.method
and rpc.grpc.status_code, whose counts are the calls per RPC. OpenTelemetry's Python grpc
instrumentation makes spans only.

The server's are recorded by an interceptor; the client's around the router's batch calls
(client_call), which go without client interceptors for their cost."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
from opentelemetry.metrics import Histogram
from opentelemetry.util.types import Attributes

from aegis_runtime.interceptors import MethodWrappingInterceptor, replies_of, wrap_handler
from aegis_runtime.metrics import histogram, metrics_enabled

_OK = grpc.StatusCode.OK.value[0]
_CANCELLED = grpc.StatusCode.CANCELLED.value[0]
_DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
_UNKNOWN = grpc.StatusCode.UNKNOWN.value[0]

_server_duration = histogram(
    "rpc.server.duration", "gRPC calls served, by service, method and status.")
_client_duration = histogram(
    "rpc.client.duration", "gRPC calls made, by service, method and status.")


@functools.cache
def _attributes(path: str, code: int) -> Attributes:
    """Made once per method and status (both sets are small): recording builds no dict.
    Without the conventions' rpc.system, always grpc here: the SDK's cost of a measurement
    grows with its attributes."""
    service, _, method = path.lstrip("/").partition("/")
    return {"rpc.service": service, "rpc.method": method, "rpc.grpc.status_code": code}


def _served_code(error: BaseException | None, context: grpc.aio.ServicerContext) -> int:
    if error is None or isinstance(error, grpc.aio.AbortError):
        code = context.code()
        if isinstance(code, grpc.StatusCode):
            return int(code.value[0])
        return _OK if error is None else _UNKNOWN
    # A call the client gave up on (its deadline, a cancel) cancels the handler's task.
    return _CANCELLED if not isinstance(error, Exception) else _UNKNOWN


def _called_code(error: BaseException | None) -> int:
    if error is None:
        return _OK
    if isinstance(error, grpc.aio.AioRpcError):
        return int(error.code().value[0])
    if isinstance(error, TimeoutError):
        return _DEADLINE_EXCEEDED
    return _CANCELLED if not isinstance(error, Exception) else _UNKNOWN


@contextlib.contextmanager
def _timed(
    duration: Histogram, path: str, code_of: Callable[[BaseException | None], int]
) -> Iterator[None]:
    """Records the block's duration under `path` and the status `code_of` what it raised."""
    started = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        duration.record(time.perf_counter() - started, _attributes(path, code_of(exc)))
        raise
    duration.record(time.perf_counter() - started, _attributes(path, code_of(None)))


def _timed_unary(path: str, behavior: Callable[..., Any], streamed: bool) -> Callable[..., Any]:
    async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
        with _timed(_server_duration, path, functools.partial(_served_code, context=context)):
            return await behavior(request, context)

    return timed


def _timed_stream(path: str, behavior: Callable[..., Any], streamed: bool) -> Callable[..., Any]:
    async def timed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        with _timed(_server_duration, path, functools.partial(_served_code, context=context)):
            async for item in replies_of(behavior(request, context)):
                yield item

    return timed


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """The interceptor that times every call, where this process exports metrics: without,
    a call pays nothing for it."""
    return [ServerMetricsInterceptor()] if metrics_enabled() else []


class ServerMetricsInterceptor(MethodWrappingInterceptor):
    """Times every call a server serves (rpc.server.duration)."""

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return wrap_handler(
            handler, functools.partial(_timed_unary, method),
            functools.partial(_timed_stream, method),
        )


def client_call(path: str) -> contextlib.AbstractContextManager[None]:
    """Times the call made in the block (rpc.client.duration), its status from what it
    raised."""
    return _timed(_client_duration, path, _called_code)
