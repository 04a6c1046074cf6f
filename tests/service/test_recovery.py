"""Recovery through real servers: once a downstream service is back, the next Scores succeed
without waiting out a grown reconnect backoff; an audit that hangs still gets its caller an
UNAVAILABLE before the caller's deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import grpc

from aegis.v1 import router_pb2
from aegis_runtime.server import RunningServer
from aegis_runtime.settings import ServiceSettings
from agent_services.host import AgentComponent
from audit_service.component import AuditComponent
from audit_service.settings import AuditSettings
from tests.service.mesh import Mesh, entry, local, start_mesh
from tests.service.test_router import FixedAgent, event

# Scores are sent one per PACE_S: the count of failures after a restart then measures how
# long the router kept failing. The service stays down for DOWN_SCORES paced Scores (2 s or
# more): gRPC's own reconnect backoff (1 s, then x1.6 per try) has grown to 2.5 s or more by
# then, about 50 failures; the router's is bounded at 0.5 s, about 10. The bound sits
# between, with room both ways for a busy machine.
PACE_S = 0.05
DOWN_SCORES = 40
MAX_FAILURES_AFTER_RESTART = 20


def on_port(port: int) -> ServiceSettings:
    """Server settings that bind the port a stopped server had (its clients' address)."""
    return local().model_copy(update={"port": port})


async def failures_until(mesh: Mesh, succeeded: Callable[[router_pb2.ScoreResponse], bool],
                         first: int) -> int:
    """Scores the router fails (or answers without what `succeeded` wants) before one does."""
    router = mesh.router_stub()
    for n in range(first, first + 400):
        try:
            reply = await router.Score(
                router_pb2.ScoreRequest(event=event(n, user=f"user-{n}")), timeout=2
            )
            if succeeded(reply):
                return n - first
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error
        await asyncio.sleep(PACE_S)
    raise AssertionError("the router never recovered")


def test_scores_succeed_soon_after_the_audit_service_returns(tmp_path: Path) -> None:
    async def scenario() -> int:
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), FixedAgent("geo", 0.1))})
        try:
            assert await failures_until(mesh, lambda _: True, 0) == 0
            port = mesh.audit.port
            await mesh.audit.stop(0.5)
            # Failed Scores while it is down: the router's channel backs off between tries.
            for n in range(1000, 1000 + DOWN_SCORES):
                await failures_until_refused(mesh, n)
                await asyncio.sleep(PACE_S)
            audit = RunningServer(
                AuditComponent(AuditSettings(port=port, data_dir=tmp_path / "audit",
                                             log_format="text")),
                on_port(port),
            )
            await audit.start()
            mesh.audit = audit
            return await failures_until(mesh, lambda _: True, 2000)
        finally:
            await mesh.close()

    assert asyncio.run(scenario()) <= MAX_FAILURES_AFTER_RESTART


async def failures_until_refused(mesh: Mesh, n: int) -> None:
    try:
        await mesh.router_stub().Score(router_pb2.ScoreRequest(event=event(n)), timeout=2)
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.UNAVAILABLE
    else:
        raise AssertionError("a Score was answered without the audit service")


def _geo_ok(reply: router_pb2.ScoreResponse) -> bool:
    (geo,) = reply.decision.signals
    return geo.status == 1  # SIGNAL_STATUS_OK


def test_an_agents_signal_returns_soon_after_the_agent_does(tmp_path: Path) -> None:
    async def scenario() -> int:
        geo = FixedAgent("geo", 0.1)
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), geo)})
        try:
            assert await failures_until(mesh, _geo_ok, 0) == 0
            port = mesh.agents["geo"].port
            await mesh.agents["geo"].stop(0.5)
            for n in range(1000, 1000 + DOWN_SCORES):
                reply = await mesh.router_stub().Score(
                    router_pb2.ScoreRequest(event=event(n, user=f"down-{n}")), timeout=2
                )
                assert not _geo_ok(reply)
                await asyncio.sleep(PACE_S)
            mesh.agents["geo"] = RunningServer(AgentComponent(geo), on_port(port))
            await mesh.agents["geo"].start()
            return await failures_until(mesh, _geo_ok, 2000)
        finally:
            await mesh.close()

    assert asyncio.run(scenario()) <= MAX_FAILURES_AFTER_RESTART


def test_a_hanging_audit_gets_the_caller_unavailable_before_its_deadline(
    tmp_path: Path,
) -> None:
    async def scenario() -> grpc.StatusCode:
        mesh = await start_mesh(
            tmp_path, {"geo": (entry("geo"), FixedAgent("geo", 0.1))}, reply_margin_ms=150
        )
        try:
            store = mesh.audit.component.store  # type: ignore[attr-defined]

            async def hang(*args: object) -> None:
                await asyncio.Event().wait()

            store.record = hang
            try:
                await mesh.router_stub().Score(router_pb2.ScoreRequest(event=event()),
                                               timeout=1.0)
            except grpc.aio.AioRpcError as error:
                return error.code()
            raise AssertionError("a Score was answered without an audit record")
        finally:
            await mesh.close()

    assert asyncio.run(scenario()) == grpc.StatusCode.UNAVAILABLE
