"""Server and client interceptors: request ids and one structured access-log line per call."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
from grpc.aio import ClientCallDetails

from aegis_runtime.errors import InvalidArgument, abort
from aegis_runtime.logging import request_id_var
from aegis_runtime.telemetry import REQUEST_ID_HEADER

access_log = logging.getLogger("aegis.access")


def _status_of(exc: BaseException | None, context: grpc.aio.ServicerContext) -> str:
    if exc is None:
        code = context.code()
        return code.name if isinstance(code, grpc.StatusCode) else "OK"
    if isinstance(exc, grpc.aio.AbortError):
        code = context.code()
        return code.name if isinstance(code, grpc.StatusCode) else "ABORTED"
    return "UNKNOWN"


def _request_id(context: grpc.aio.ServicerContext) -> str:
    """The caller's x-request-id, or a new one."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_HEADER:
            return str(value)
    return uuid.uuid4().hex


@contextlib.contextmanager
def _call_scope(method: str, context: grpc.aio.ServicerContext) -> Iterator[None]:
    """The call's request id bound for its duration, and its access-log line at the end."""
    token = request_id_var.set(_request_id(context))
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        error = exc
        raise
    finally:
        _log_call(method, started, _status_of(error, context))
        # A stream whose client left mid-reply is not closed by grpc but finalised later, in
        # another context than the one the id was bound in: there is nothing to unbind.
        with contextlib.suppress(ValueError):
            request_id_var.reset(token)


class _Undecodable:
    """A request message that could not be decoded, in place of the message: gRPC would
    answer a deserializer's exception with UNKNOWN, and bad bytes are the caller's error."""

    def __init__(self, error: InvalidArgument) -> None:
        self.error = error


def _tolerant(method: str, deserializer: Callable[[bytes], Any] | None) -> Any:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:
            problem = f"cannot be decoded for {method}: {exc}"
            return _Undecodable(InvalidArgument("request", problem))

    return deserialize


async def _checked_stream(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, _Undecodable):
            await abort(context, request.error)
        yield request


async def _decoded(request: Any, context: grpc.aio.ServicerContext, streamed: bool) -> Any:
    """The request for the behaviour: a stream whose undecodable items abort the call, or the
    message itself, the call aborted first if it could not be decoded."""
    if streamed:
        return _checked_stream(request, context)
    if isinstance(request, _Undecodable):
        await abort(context, request.error)
    return request


def _wrap_unary(method: str, behavior: Callable[..., Any], streamed: bool) -> Callable[..., Any]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        with _call_scope(method, context):
            return await behavior(await _decoded(request, context, streamed), context)

    return wrapped


def _wrap_stream(method: str, behavior: Callable[..., Any], streamed: bool) -> Callable[..., Any]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        with _call_scope(method, context):
            request = await _decoded(request, context, streamed)
            async for item in replies_of(behavior(request, context)):
                yield item

    return wrapped


async def replies_of(replies: Any) -> AsyncIterator[Any]:
    """A streaming behaviour's replies: what it yields, or nothing from one that writes them
    with context.write (grpc.health.v1 Watch) and returns a coroutine."""
    if inspect.isasyncgen(replies):
        async for item in replies:
            yield item
    else:
        await replies


# How a wrapper is given a method's behaviour: the behaviour, and whether its requests arrive
# as a stream.
Wrapper = Callable[[Callable[..., Any], bool], Callable[..., Any]]


def wrap_handler(
    handler: grpc.RpcMethodHandler,
    wrap_unary: Wrapper,
    wrap_stream: Wrapper,
    deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler:
    """The handler with its behaviour wrapped: `wrap_unary` for a unary reply (awaited),
    `wrap_stream` for a streamed one (iterated); `deserializer` in place of the handler's."""
    deserializer = deserializer or handler.request_deserializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap_unary(handler.unary_unary, False), deserializer, handler.response_serializer
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            wrap_unary(handler.stream_unary, True), deserializer, handler.response_serializer
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap_stream(handler.unary_stream, False), deserializer, handler.response_serializer
        )
    return grpc.stream_stream_rpc_method_handler(
        wrap_stream(handler.stream_stream, True), deserializer, handler.response_serializer
    )


class MethodWrappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps each method's handler once (`wrap`), then serves every call with the wrapped one:
    a server's handlers are fixed once it has started, and wrapping anew on every call cost
    CPU on every hop of every Score."""

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return handler
            wrapped = self._wrapped[method] = self.wrap(method, handler)
        return wrapped


class RequestContextInterceptor(MethodWrappingInterceptor):
    """Binds the caller's x-request-id (or a new one) to the call and logs its outcome."""

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return wrap_handler(
            handler,
            functools.partial(_wrap_unary, method),
            functools.partial(_wrap_stream, method),
            _tolerant(method, handler.request_deserializer),
        )


def _log_call(method: str, started: float, status: str) -> None:
    elapsed_ms = (time.perf_counter() - started) * 1000
    # Successful calls log at DEBUG: at thousands of calls a second an INFO line each would
    # cost more CPU than the call.
    level = logging.DEBUG if status == "OK" else logging.INFO
    access_log.log(
        level, "rpc", extra={"method": method, "status": status, "ms": round(elapsed_ms, 3)}
    )


class RequestIdClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Forwards the current request id to downstream services."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[[ClientCallDetails, Any], Any],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        request_id = request_id_var.get()
        if request_id:
            metadata = list(client_call_details.metadata or ())
            metadata.append((REQUEST_ID_HEADER, request_id))
            client_call_details = ClientCallDetails(
                client_call_details.method,
                client_call_details.timeout,
                metadata,
                client_call_details.credentials,
                client_call_details.wait_for_ready,
            )
        return await continuation(client_call_details, request)
