"""Reaching the services from the command line: addresses, channels, errors as messages."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from aegis_cli.argtypes import positive_float
from aegis_cli.errors import FAILURE, USAGE, CliError
from aegis_mesh.cluster import audit_address, router_address
from aegis_runtime.channels import service_channel
from aegis_runtime.tls import TlsSettings, handshake_refusal

R = TypeVar("R")

ROUTER_ADDR_ENV = "AEGIS_ROUTER_ADDR"
AUDIT_ADDR_ENV = "AEGIS_AUDIT_ADDR"

# The kinds of caller the CLI acts as, one certificate each under AEGIS_TLS_DIR.
CLIENT = "client"
REVIEWER = "reviewer"
OPERATOR = "operator"
# `aegis agent` Assess and `aegis audit replay` run the router's own scoring against the
# agents, which answer Assess to the router only.
ROUTER = "router"


def add_router_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--router",
        default=os.environ.get(ROUTER_ADDR_ENV) or router_address(),
        metavar="HOST:PORT",
        help=f"router address (env {ROUTER_ADDR_ENV}; default %(default)s: the local "
        "cluster's, shifted by AEGIS_CLUSTER_PORT_OFFSET)",
    )


def add_audit_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--audit-addr",
        default=os.environ.get(AUDIT_ADDR_ENV) or audit_address(),
        metavar="HOST:PORT",
        help=f"audit service address (env {AUDIT_ADDR_ENV}; default %(default)s: the local "
        "cluster's, shifted by AEGIS_CLUSTER_PORT_OFFSET)",
    )


def add_timeout_option(parser: argparse.ArgumentParser, default_s: float) -> None:
    parser.add_argument(
        "--timeout", type=positive_float, default=default_s, metavar="SECONDS",
        help="deadline of the call (default %(default)s)",
    )


def open_channel(
    address: str, *, peer: str, caller: str, intercepted: bool = True,
    tls: TlsSettings | None = None,
) -> grpc.aio.Channel:
    """The services' own channel to the service `peer`: the CLI's calls carry trace context
    too (through the interceptors, or, for the router's batch calls, through their own
    spans). With AEGIS_TLS_* set (or `tls`), mutual TLS presenting the certificate of
    `caller` (client, reviewer, operator; AEGIS_TLS_NAME chooses another)."""
    try:
        identity = (tls or TlsSettings()).identity(caller)
    except ValueError as exc:
        raise CliError(f"TLS: {exc}", USAGE) from None
    return service_channel(address, tls=identity, peer=peer, intercepted=intercepted)


def rpc_failure(
    exc: grpc.aio.AioRpcError, service: str, address: str, *, caller: str = "", peer: str = ""
) -> CliError:
    """A failed call as one clear message; INVALID_ARGUMENT (which names the field) exits 2.
    Given the `caller` (whose certificate was presented), an UNAVAILABLE that was a refused
    TLS handshake says which side refused."""
    code = exc.code()
    details = exc.details() or ""
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return CliError(f"{service} refused the request: {details}", USAGE)
    if code is grpc.StatusCode.UNAVAILABLE:
        refused = tls_refusal(address, caller, peer or service) if caller else None
        if refused:
            return CliError(f"{service} at {address}: {refused}")
        return CliError(
            f"{service} at {address} is unavailable ({details}); is it running? "
            "(aegis cluster status)"
        )
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return CliError(f"{service} at {address} did not answer within the deadline")
    return CliError(f"{service} at {address} failed: {code.name}: {details}", FAILURE)


def tls_refusal(address: str, caller: str, peer: str) -> str | None:
    """Why the TLS handshake with `peer` at `address` as `caller` fails (None: it does not)."""
    try:
        identity = TlsSettings().identity(caller)
    except ValueError:
        return None
    return handshake_refusal(address, identity, peer)


def call(
    address: str, service: str, method: Callable[[grpc.aio.Channel], Awaitable[R]], *,
    caller: str, peer: str = "",
) -> R:
    """Run one call on a fresh channel to `address` (the service `peer`, default `service`)
    as `caller`; a failure becomes a CliError."""

    async def attempt() -> R:
        async with open_channel(address, peer=peer or service, caller=caller) as channel:
            try:
                return await method(channel)
            except grpc.aio.AioRpcError as exc:
                raise rpc_failure(exc, service, address, caller=caller,
                                  peer=peer or service) from None

    return asyncio.run(attempt())
