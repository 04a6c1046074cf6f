"""Client channels: one per downstream address for the life of the process."""

from __future__ import annotations

import json

import grpc

from aegis_runtime import telemetry
from aegis_runtime.interceptors import RequestIdClientInterceptor
from aegis_runtime.tls import TlsIdentity, server_name_option

# round_robin spreads calls over every address DNS returns (one per ECS task in Cloud Map);
# pick_first would pin a client to one task for the life of the connection.
_SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
# Reconnection to a peer that went away: gRPC's default backoff grows to 120 s (1 s, 1.6 s,
# 2.6 s, ...), so calls kept failing seconds after a restarted service was SERVING again. A
# mesh of a handful of peers can afford a retry every half second at most.
RECONNECT_BACKOFF_MS = 100
MAX_RECONNECT_BACKOFF_MS = 500
# Replies come from the mesh's own services and are bounded by what they serve, but a batch
# of them can pass gRPC's 4 MiB default: 64 contexts of a user whose 50 past logins fill
# every field to its bound are 8 MiB, and over the limit the whole batch would fail with
# every neighbour in it. Requests stay under 4 MiB (the router splits its batches).
MAX_REPLY_BYTES = 64 * 1024 * 1024


def channel_target(address: str) -> str:
    """host:port -> a target resolved through DNS, so that every task is seen."""
    if "://" in address or address.startswith(("dns:", "unix:", "ipv4:", "ipv6:")):
        return address
    return f"dns:///{address}"


def service_channel(
    address: str, *, tls: TlsIdentity | None = None, peer: str = "", intercepted: bool = True
) -> grpc.aio.Channel:
    """An aio channel to the service named `peer` at `address`: mutual TLS presenting `tls`
    (and accepting only `peer`'s certificate), or plaintext without it. Intercepted: every
    call traced and carrying the request id. Callers that trace their calls themselves (the
    router's batch calls: telemetry.batch_call_span) go without the interceptors."""
    interceptors = (
        [*telemetry.client_interceptors(), RequestIdClientInterceptor()] if intercepted else []
    )
    options = [
        ("grpc.service_config", _SERVICE_CONFIG),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.enable_retries", 1),
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
        ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
        ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
        ("grpc.max_receive_message_length", MAX_REPLY_BYTES),
    ]
    if tls is None:
        return grpc.aio.insecure_channel(
            channel_target(address), options=options, interceptors=interceptors
        )
    if not peer:
        raise ValueError("a TLS channel needs the name of the service it reaches")
    return grpc.aio.secure_channel(
        channel_target(address), tls.channel_credentials(),
        options=[*options, server_name_option(peer)], interceptors=interceptors,
    )
