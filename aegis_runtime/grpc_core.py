"""The gRPC core settings every AegisAI service process starts with.

gRPC core reads its environment once, when `grpc` is imported, so these cannot be set from
Python inside a service: whatever starts a service puts them in its environment (the local
cluster, aegis_mesh.cluster; the image, ecs/docker/Dockerfile; tests/unit/test_grpc_core.py
holds the two to this table). An operator's own value of a variable wins.

GRPC_EXPERIMENTS: grpcio 1.85 routes client and server sockets through the EventEngine, whose
own thread reads each socket and then wakes the thread that polls the completion queue, which
in turn wakes grpc.aio's event loop. With the EventEngine client and listener turned off, the
thread polling the completion queue reads the sockets itself: one thread hand-off fewer on
every message. Measured side by side on this project's 2-core VM (`python -m bench.hop_cost`,
uvloop, back-to-back calls): client 0.21 → 0.19 ms and server 0.34 → 0.30 ms of CPU a call,
p50 0.52 → 0.47 ms; the mesh's figures are in docs/benchmarks.md ("gRPC core settings").
"""

from __future__ import annotations

from collections.abc import Mapping

GRPC_CORE_ENVIRONMENT: dict[str, str] = {
    "GRPC_EXPERIMENTS": "-event_engine_client,-event_engine_listener",
}


def with_grpc_core_defaults(environment: Mapping[str, str]) -> dict[str, str]:
    """`environment` with every gRPC core setting it does not set itself."""
    return {**GRPC_CORE_ENVIRONMENT, **environment}
