"""Server and client interceptors: request ids and one structured access-log line per call."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc.aio import ClientCallDetails

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


class RequestContextInterceptor(grpc.aio.ServerInterceptor):
    """Binds the caller's x-request-id (or a new one) to the call and logs its outcome."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        metadata = dict(handler_call_details.invocation_metadata or ())
        incoming_id = metadata.get(REQUEST_ID_HEADER)

        def wrap_unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                token = request_id_var.set(incoming_id or uuid.uuid4().hex)
                started = time.perf_counter()
                error: BaseException | None = None
                try:
                    return await behavior(request, context)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    _log_call(method, started, _status_of(error, context))
                    request_id_var.reset(token)

            return wrapped

        def wrap_stream(behavior: Callable[..., Any]) -> Callable[..., Any]:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                token = request_id_var.set(incoming_id or uuid.uuid4().hex)
                started = time.perf_counter()
                error: BaseException | None = None
                try:
                    async for item in behavior(request, context):
                        yield item
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    _log_call(method, started, _status_of(error, context))
                    request_id_var.reset(token)

            return wrapped

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                wrap_unary(handler.unary_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                wrap_unary(handler.stream_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                wrap_stream(handler.unary_stream),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            wrap_stream(handler.stream_stream),
            handler.request_deserializer,
            handler.response_serializer,
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
