"""The server interceptor that holds every call to the authorisation table
(aegis_domain.authorization) by the identity of the caller's certificate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from aegis_domain.authorization import may_call, role_of
from aegis_runtime.interceptors import (
    MethodWrappingInterceptor,
    Wrapper,
    replies_of,
    wrap_handler,
)
from aegis_runtime.tls import peer_identity


async def _admit(method: str, context: grpc.aio.ServicerContext) -> None:
    """Abort the call unless its caller's identity may call `method`."""
    identity = peer_identity(context)
    if identity is None or role_of(identity) is None:
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            f"{method}: the client certificate holds no identity of this trust domain "
            f"({identity or 'none'})",
        )
    elif not may_call(identity, method):
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{identity} may not call {method}")


def _unary(method: str) -> Wrapper:
    def wrap(behavior: Callable[..., Any], streamed: bool) -> Callable[..., Any]:
        async def admitted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await _admit(method, context)
            return await behavior(request, context)

        return admitted

    return wrap


def _stream(method: str) -> Wrapper:
    def wrap(behavior: Callable[..., Any], streamed: bool) -> Callable[..., Any]:
        async def admitted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await _admit(method, context)
            async for item in replies_of(behavior(request, context)):
                yield item

        return admitted

    return wrap


class AuthorizationInterceptor(MethodWrappingInterceptor):
    """Installed on servers that speak mutual TLS: the handshake has verified the caller's
    certificate against our CA; this decides whether its identity may call the method."""

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return wrap_handler(handler, _unary(method), _stream(method))
