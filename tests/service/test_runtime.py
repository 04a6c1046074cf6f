"""The shared server bootstrap: health follows readiness, reflection, graceful drain."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import subprocess
import sys

import grpc
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from aegis.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from aegis_runtime.server import RunningServer, service_loop
from tests.service.mesh import ServicerComponent, local

AGENT_SERVICE = "aegis.v1.AgentService"


class GatedAgent(agent_pb2_grpc.AgentServiceServicer):
    """Assess answers only once `release` is set, so a test can hold a call in flight."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def Assess(self, request, context):
        self.entered.set()
        await self.release.wait()
        return agent_pb2.AssessResponse(
            signal=common_pb2.AgentSignal(agent="gated", status=common_pb2.SIGNAL_STATUS_OK)
        )


class SlowStartComponent(ServicerComponent):
    """start() waits until the test lets it finish: models still loading."""

    def __init__(self) -> None:
        super().__init__(GatedAgent())
        self.loaded = asyncio.Event()

    async def start(self) -> None:
        await self.loaded.wait()


async def health_of(channel: grpc.aio.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
    return reply.status


def test_serving_only_after_start_and_not_serving_while_draining() -> None:
    async def scenario() -> None:
        component = SlowStartComponent()
        server = RunningServer(component, local())
        await server.listen()
        starting = asyncio.create_task(server.ready())
        # Listening while the component is still loading: health must say NOT_SERVING.
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        await channel.channel_ready()
        assert await health_of(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert (
            await health_of(channel, AGENT_SERVICE) == health_pb2.HealthCheckResponse.NOT_SERVING
        )
        component.loaded.set()
        await starting
        assert await health_of(channel) == health_pb2.HealthCheckResponse.SERVING
        assert await health_of(channel, AGENT_SERVICE) == health_pb2.HealthCheckResponse.SERVING

        # An in-flight call survives the drain when it finishes within the grace period.
        agent = component.servicer
        call = agent_pb2_grpc.AgentServiceStub(channel).Assess(agent_pb2.AssessRequest())
        await agent.entered.wait()
        stopping = asyncio.create_task(server.stop(grace_s=10))
        await server.draining.wait()
        # Once the server refuses new calls it is shutting down; only then release the old one.
        late = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        with contextlib.suppress(grpc.aio.AioRpcError):
            await health_pb2_grpc.HealthStub(late).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
        await late.close()
        assert not stopping.done()
        agent.release.set()
        reply = await call
        assert reply.signal.agent == "gated"
        await stopping
        await channel.close()

    asyncio.run(scenario())


def test_a_service_freezes_what_start_up_made_before_serving() -> None:
    """A full collection that traverses the models and warmed caches paused services for
    100-300 ms while serving; frozen, they are out of its reach."""
    async def scenario() -> tuple[int, int]:
        component = SlowStartComponent()
        component.loaded.set()
        server = RunningServer(component, local())
        gc.unfreeze()
        try:
            await server.start(freeze_heap=True)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
            async with channel:
                serving = await health_of(channel)
            return gc.get_freeze_count(), serving
        finally:
            gc.unfreeze()
            await server.stop(grace_s=0)

    frozen, serving = asyncio.run(scenario())
    assert frozen > 0
    assert serving == health_pb2.HealthCheckResponse.SERVING


def test_a_service_serves_on_uvloop() -> None:
    """Every service runs on service_loop(): uvloop's, on which grpc.aio must serve and call."""
    async def scenario() -> tuple[asyncio.AbstractEventLoop, int, str]:
        agent = GatedAgent()
        agent.release.set()
        server = RunningServer(ServicerComponent(agent), local())
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                serving = await health_of(channel)
                reply = await agent_pb2_grpc.AgentServiceStub(channel).Assess(
                    agent_pb2.AssessRequest(), timeout=2
                )
            return asyncio.get_running_loop(), serving, reply.signal.agent
        finally:
            await server.stop(0.5)

    with service_loop() as runner:
        loop, serving, answered_by = runner.run(scenario())
    assert isinstance(loop, uvloop.Loop)
    assert serving == health_pb2.HealthCheckResponse.SERVING
    assert answered_by == "gated"


def test_reflection_lists_the_services() -> None:
    async def scenario() -> list[str]:
        server = RunningServer(ServicerComponent(GatedAgent()), local())
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = reflection_pb2_grpc.ServerReflectionStub(channel)

                async def ask():
                    yield reflection_pb2.ServerReflectionRequest(list_services="")

                names = []
                async for reply in stub.ServerReflectionInfo(ask()):
                    names = [s.name for s in reply.list_services_response.service]
                return names
        finally:
            await server.stop(0.5)

    names = asyncio.run(scenario())
    assert AGENT_SERVICE in names
    assert "grpc.health.v1.Health" in names


def _interceptors_with(exporter: str) -> int:
    # A fresh process: the tests' own tracer provider (conftest) must not be seen.
    code = ("from aegis_runtime import telemetry; telemetry.configure_tracing('t'); "
            "print(len(telemetry.server_interceptors()), len(telemetry.client_interceptors()))")
    env = {**os.environ, "OTEL_TRACES_EXPORTER": exporter}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]) + int(out[1])


def test_tracing_costs_no_interceptor_unless_an_exporter_is_set() -> None:
    assert _interceptors_with("none") == 0
    assert _interceptors_with("console") > 0
