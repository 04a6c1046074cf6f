"""The transport ceiling: a RouterService whose Score answers at once with a fixed decision,
nothing behind it, in the server bootstrap every service uses (interceptors, tracing, health).

What the load generator achieves against it is what one Python gRPC hop costs on this machine;
every mesh figure of `make bench` is read as a ratio to it.

    AEGIS_BENCH_CEILING_PORT=50051 python -m bench.ceiling
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import grpc
from pydantic_settings import SettingsConfigDict

from aegis.v1 import common_pb2, router_pb2, router_pb2_grpc
from aegis_domain.registry import default_registry
from aegis_mesh.certificates import cluster_identities, write_identities
from aegis_mesh.cluster import (
    ROUTER_PORT,
    ClusterPaths,
    LocalCluster,
    ServiceSpec,
    port_offset,
    with_tls,
)
from aegis_runtime.server import ServiceBinding, serve
from aegis_runtime.settings import ServiceSettings
from aegis_runtime.tls import service_identity

ENV_PREFIX = "AEGIS_BENCH_CEILING_"
ROUTER_SERVICE = router_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name


class CeilingSettings(ServiceSettings):
    """The ceiling server; environment prefix AEGIS_BENCH_CEILING_."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")


def healthy_reply(agents: Sequence[str]) -> router_pb2.ScoreResponse:
    """A decision as a healthy mesh returns it (every agent's signal, context served, audit
    acknowledged), so that the load generator reads it as it reads the router's."""
    return router_pb2.ScoreResponse(
        decision=common_pb2.Decision(
            decision_id="ceiling", action=common_pb2.ACTION_ALLOW, risk=0.01, confidence=1.0,
            policy_version="ceiling",
            signals=[
                common_pb2.AgentSignal(agent=name, status=common_pb2.SIGNAL_STATUS_OK,
                                       risk=0.01, confidence=1.0, batch_size=1)
                for name in agents
            ],
        ),
        timing=router_pb2.ScoreTiming(context_batch_size=1, audit_batch_size=1),
    )


class CeilingServicer(router_pb2_grpc.RouterServiceServicer):
    def __init__(self, reply: router_pb2.ScoreResponse) -> None:
        self.reply = reply

    async def Score(
        self, request: router_pb2.ScoreRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ScoreResponse:
        return self.reply


class CeilingComponent:
    def __init__(self) -> None:
        self.servicer = CeilingServicer(healthy_reply([a.name for a in default_registry().agents]))

    def bindings(self) -> Sequence[ServiceBinding]:
        add = functools.partial(router_pb2_grpc.add_RouterServiceServicer_to_server, self.servicer)
        return [ServiceBinding(ROUTER_SERVICE, add)]

    async def start(self) -> None:
        """Nothing to load."""

    async def close(self) -> None:
        """Nothing to release."""


def ceiling_cluster(state: Path, tls: bool = False) -> LocalCluster:
    """The ceiling alone, where the cluster's router would answer, as a cluster the bench
    starts, watches and stops like the meshes; with `tls`, it presents the router's
    certificate of state/tls, so that the load generator meets what it meets in a mesh."""
    port = ROUTER_PORT + port_offset()
    paths = ClusterPaths(state)
    spec = ServiceSpec("ceiling", ("-m", "bench.ceiling"), port, {f"{ENV_PREFIX}PORT": str(port)})
    if tls:
        write_identities(paths.tls, cluster_identities())
        spec = with_tls(spec, paths, "router")
    return LocalCluster([[spec]], paths, say=lambda _msg: None)


def main() -> None:
    serve("bench-ceiling", CeilingSettings(), CeilingComponent,
          service_identity("bench-ceiling", "router"))


if __name__ == "__main__":
    main()
