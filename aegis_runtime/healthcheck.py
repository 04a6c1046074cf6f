"""Health-check CLI for containers and the local cluster: exit 0 only when SERVING.

    python -m aegis_runtime.healthcheck 127.0.0.1:50051 [--service NAME] [--timeout 2]
        [--peer router]

With AEGIS_TLS_* set (aegis_runtime.tls), it speaks mutual TLS and accepts only the
certificate of the service named by --peer.
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aegis_runtime.tls import TlsIdentity, TlsSettings, server_name_option


def _channel(address: str, tls: TlsIdentity | None, peer: str) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(
        address, tls.channel_credentials(), options=[server_name_option(peer)]
    )


def check(
    address: str, service: str = "", timeout_s: float = 2.0, *, tls: TlsIdentity | None = None,
    peer: str = "",
) -> str:
    """The reported status name, or UNREACHABLE."""
    with _channel(address, tls, peer) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError:
            return "UNREACHABLE"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="host:port of the gRPC server")
    parser.add_argument("--service", default="", help="service name; empty for the server")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds")
    parser.add_argument("--peer", default="", help="with TLS: the name on the server's "
                        "certificate (router, audit, an agent's name)")
    args = parser.parse_args(argv)
    # A container checks its own service with its own certificate (health answers any
    # authenticated peer); a person with AEGIS_TLS_DIR presents the operator's.
    tls = TlsSettings().identity("operator")
    if tls is not None and not args.peer:
        parser.error("--peer is required when AEGIS_TLS_* is set")
    status = check(args.address, args.service, args.timeout, tls=tls, peer=args.peer)
    print(status)
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
