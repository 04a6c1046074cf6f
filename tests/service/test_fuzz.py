"""Raw, bit-flipped and truncated requests to real servers (router, audit, one agent): only
OK, INVALID_ARGUMENT or RESOURCE_EXHAUSTED come back, and every service stays SERVING."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aegis.v1 import agent_pb2, audit_pb2, router_pb2
from aegis_domain.convert import seconds_to_timestamp
from tests.service.mesh import entry, start_mesh
from tests.service.test_router import FixedAgent, event
from tests.unit.audit_builders import T0, make_record

# A fixed seed: CI sends the same requests on every run, and a failure names the one it was.
SEED = 14
PER_KIND = 20
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
           grpc.StatusCode.RESOURCE_EXHAUSTED}


def _score(n: int) -> bytes:
    return router_pb2.ScoreRequest(event=event(n, user=f"fuzz-{n}")).SerializeToString()


def _record(n: int) -> bytes:
    return audit_pb2.RecordRequest(record=make_record(f"fuzz-{n}")).SerializeToString()


def _contexts(n: int) -> bytes:
    return audit_pb2.GetContextBatchRequest(items=[
        audit_pb2.GetContextRequest(user_id=f"fuzz-{n}", ip="192.0.2.1",
                                    as_of=seconds_to_timestamp(T0), event_id=f"ev-{n}")
        for _ in range(2)
    ]).SerializeToString()


def _assess(n: int) -> bytes:
    return agent_pb2.AssessBatchRequest(items=[
        agent_pb2.AssessRequest(event=event(n, user=f"fuzz-{n}"))
    ]).SerializeToString()


def _record_batch(n: int) -> bytes:
    return audit_pb2.RecordBatchRequest(items=[
        audit_pb2.RecordRequest(record=make_record(f"fuzz-b{n}"))
    ]).SerializeToString()


# Method -> (the server it goes to, a valid request; each call's own ids, so that no two
# mutants share an event id and a valid mutant is never a conflicting repeat).
TARGETS: dict[str, tuple[str, Callable[[int], bytes]]] = {
    "/aegis.v1.RouterService/Score": ("router", _score),
    "/aegis.v1.AuditService/RecordBatch": ("audit", _record_batch),
    "/aegis.v1.AuditService/Record": ("audit", _record),
    "/aegis.v1.AuditService/GetContextBatch": ("audit", _contexts),
    "/aegis.v1.AgentService/AssessBatch": ("agent", _assess),
}


def mutants(rng: random.Random, valid: Callable[[int], bytes]) -> list[bytes]:
    """Random bytes, bit flips and truncations of valid requests."""
    found = [rng.randbytes(rng.randrange(0, 300)) for _ in range(PER_KIND)]
    for _ in range(PER_KIND):
        flipped = bytearray(valid(rng.randrange(10**9)))
        for _flip in range(rng.randrange(1, 6)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        found.append(bytes(flipped))
        whole = valid(rng.randrange(10**9))
        found.append(whole[: rng.randrange(len(whole))])
    return found


def test_mutated_requests_get_only_ok_invalid_argument_or_resource_exhausted(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)

    async def scenario() -> tuple[dict[str, set[grpc.StatusCode]], dict[str, int]]:
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), FixedAgent("geo", 0.1))})
        try:
            ports = {"router": mesh.router.port, "audit": mesh.audit.port,
                     "agent": mesh.agents["geo"].port}
            channels = {}
            for name, port in ports.items():
                channels[name] = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
                mesh.channels.append(channels[name])
            seen: dict[str, set[grpc.StatusCode]] = {}
            for method, (server, valid) in TARGETS.items():
                call = channels[server].unary_unary(method)
                for request in mutants(rng, valid):
                    try:
                        await call(request, timeout=10)
                        code = grpc.StatusCode.OK
                    except grpc.aio.AioRpcError as error:
                        code = error.code()
                    seen.setdefault(method, set()).add(code)
            health = {
                name: (await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )).status
                for name, channel in channels.items()
            }
            return seen, health
        finally:
            await mesh.close()

    seen, health = asyncio.run(scenario())
    assert {m: codes - ALLOWED for m, codes in seen.items() if codes - ALLOWED} == {}
    assert set(health.values()) == {health_pb2.HealthCheckResponse.SERVING}
    # The mutants reached past decoding: some were refused for a field, some went through.
    assert all(grpc.StatusCode.INVALID_ARGUMENT in codes for codes in seen.values())
    assert grpc.StatusCode.OK in seen["/aegis.v1.RouterService/Score"]
