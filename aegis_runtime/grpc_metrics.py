"""gRPC server and client metrics after OpenTelemetry's RPC semantic conventions: the duration
of every call (rpc.server.duration, rpc.client.duration; seconds) by rpc.service, rpc.method
and rpc.grpc.status_code, whose counts are the calls per RPC. OpenTelemetry's Python grpc
instrumentation makes spans only.

The server's are recorded by an interceptor, which also logs slow calls with their trace id
(histograms of cells keep no exemplars); the client's around the router's batch calls
(client_call), which go without client interceptors for their cost."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc

from aegis_runtime.errors import ServiceError
from aegis_runtime.histogram_cells import HistogramCells
from aegis_runtime.interceptors import MethodWrappingInterceptor, replies_of, wrap_handler
from aegis_runtime.logging import Throttled
from aegis_runtime.metrics import SECONDS, histogram_cells, metrics_enabled

_slow_calls = Throttled(logging.getLogger(__name__))

_OK = grpc.StatusCode.OK.value[0]
_CANCELLED = grpc.StatusCode.CANCELLED.value[0]
_DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
_UNKNOWN = grpc.StatusCode.UNKNOWN.value[0]

_server_duration = histogram_cells(
    "rpc.server.duration", SECONDS, "gRPC calls served, by service, method and status.")
_client_duration = histogram_cells(
    "rpc.client.duration", SECONDS, "gRPC calls made, by service, method and status.")


@functools.cache
def _attributes(path: str, code: int) -> dict[str, str | int]:
    """Made once per method and status (both sets are small). Without the conventions'
    rpc.system: always grpc here."""
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
    if isinstance(error, ServiceError):
        return int(error.code.value[0])
    if isinstance(error, grpc.aio.AioRpcError):
        return int(error.code().value[0])
    if isinstance(error, TimeoutError):
        return _DEADLINE_EXCEEDED
    return _CANCELLED if not isinstance(error, Exception) else _UNKNOWN


@contextlib.contextmanager
def _timed(
    duration: HistogramCells, path: str, code_of: Callable[[BaseException | None], int],
    slow_s: float = math.inf,
) -> Iterator[None]:
    """Records the block's duration under `path` and the status `code_of` what it raised."""
    started = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        _finished(duration, path, code_of(exc), time.perf_counter() - started, slow_s)
        raise
    _finished(duration, path, code_of(None), time.perf_counter() - started, slow_s)


def _finished(
    duration: HistogramCells, path: str, code: int, elapsed_s: float, slow_s: float
) -> None:
    duration.record((path, code), elapsed_s, _attributes(path, code))
    if elapsed_s > slow_s:
        # Logged inside the call's span: the line carries its trace id.
        _slow_calls.log(logging.INFO, "slow rpc", {
            "method": path, "status": code, "ms": round(elapsed_s * 1000, 3)})


def _timed_unary(
    path: str, slow_s: float, behavior: Callable[..., Any], streamed: bool
) -> Callable[..., Any]:
    async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
        code_of = functools.partial(_served_code, context=context)
        with _timed(_server_duration, path, code_of, slow_s):
            return await behavior(request, context)

    return timed


def _timed_stream(
    path: str, slow_s: float, behavior: Callable[..., Any], streamed: bool
) -> Callable[..., Any]:
    async def timed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        code_of = functools.partial(_served_code, context=context)
        with _timed(_server_duration, path, code_of, slow_s):
            async for item in replies_of(behavior(request, context)):
                yield item

    return timed


def server_interceptors(slow_call_s: float) -> list[grpc.aio.ServerInterceptor]:
    """The interceptor that times every call, where this process exports metrics: without,
    a call pays nothing for it."""
    return [ServerMetricsInterceptor(slow_call_s)] if metrics_enabled() else []


class ServerMetricsInterceptor(MethodWrappingInterceptor):
    """Times every call a server serves (rpc.server.duration), and logs one slower than
    `slow_call_s`."""

    def __init__(self, slow_call_s: float) -> None:
        super().__init__()
        self._slow_call_s = slow_call_s

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return wrap_handler(
            handler, functools.partial(_timed_unary, method, self._slow_call_s),
            functools.partial(_timed_stream, method, self._slow_call_s),
        )


def client_call(path: str) -> contextlib.AbstractContextManager[None]:
    """Times the call made in the block (rpc.client.duration), its status from what it
    raised."""
    return _timed(_client_duration, path, _called_code)


def lane_batch(path: str) -> contextlib.AbstractContextManager[None]:
    """Times one batch that a lane (aegis_runtime.lanes) carries as the served call it stands
    for (`path`, e.g. AssessBatch), so calls per RPC read the same whichever way the router
    sent them; the lane's own stream is timed once, when it ends."""
    return _timed(_server_duration, path, _called_code)
