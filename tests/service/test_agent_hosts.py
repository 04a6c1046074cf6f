"""Several agents in one process (an agent host) behind one address: the router sends the
batches a turn makes to them as one AssessHost message, and each agent is still answered,
timed out and described on its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aegis.v1 import agent_pb2, agent_pb2_grpc, common_pb2, router_pb2
from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, SignalStatus
from aegis_runtime.lanes import AGENT_HEADER
from aegis_runtime.server import RunningServer
from agent_services.base import Agent, AgentDescription
from agent_services.geo import GeoAgent
from agent_services.host import AgentComponent, AgentHostComponent
from router_service.audit_replay import running_versions
from router_service.fanout import RawAgentStub
from router_service.host_lane import HostLane
from tests.service.mesh import entry, local, start_mesh
from tests.service.test_agent_host import london_then_new_york
from tests.service.test_router import FixedAgent, event, run


class BlockedAgent(Agent):
    """Answers only once the test lets it: an agent stuck in its own work."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.release = threading.Event()

    def assess(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        self.release.wait()
        return AgentSignal(agent=self.name, status=SignalStatus.OK, risk=0.5, confidence=0.5)

    def describe(self) -> AgentDescription:
        return AgentDescription(name=self.name, model_version="blocked-1")


def test_a_stuck_agent_in_a_host_times_out_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        stuck = BlockedAgent("stuck")
        # The stuck agent comes first: a host that ran its agents one after another would
        # hold the other's signal behind it until the caller's deadline.
        agents = {
            "stuck": (entry("stuck", deadline_ms=300), stuck),
            "quick": (entry("quick", deadline_ms=4_000), FixedAgent("quick", 0.1)),
        }
        mesh = await start_mesh(tmp_path, agents, hosted=["stuck", "quick"])
        try:
            reply = await mesh.router_stub().Score(
                router_pb2.ScoreRequest(event=event()), timeout=10
            )
            signals = {s.agent: s for s in reply.decision.signals}
            assert signals["quick"].status == common_pb2.SIGNAL_STATUS_OK
            assert signals["quick"].risk == pytest.approx(0.1)
            assert signals["stuck"].status == common_pb2.SIGNAL_STATUS_TIMEOUT
            assert list(reply.decision.degraded_agents) == ["stuck"]
        finally:
            stuck.release.set()
            await mesh.close()

    run(scenario())


class CountingHost(AgentHostComponent):
    """Counts the AssessHost messages its host reads: (calls, distinct batches) each."""

    def __init__(self, agents: Sequence[Agent]) -> None:
        super().__init__(agents)
        self.messages: list[tuple[int, int]] = []
        calls = self.servicer._calls

        def counted(request: agent_pb2.AssessHostRequest):  # type: ignore[no-untyped-def]
            self.messages.append((len(request.calls), len(request.batches)))
            return calls(request)

        self.servicer._calls = counted  # type: ignore[method-assign]


def test_the_calls_one_turn_makes_to_a_host_share_one_message() -> None:
    async def scenario() -> None:
        names = ("geo", "behavior", "detection")
        host = CountingHost([FixedAgent(name, 0.1) for name in names])
        server = RunningServer(host, local())
        await server.start()
        try:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
            lane = HostLane(channel, max_age_s=60)
            batch = agent_pb2.AssessBatchRequest(items=[london_then_new_york()])
            replies = await asyncio.gather(*(
                lane.agent(name).AssessBatch(batch.SerializeToString(), 5, ())
                for name in names
            ))
            assert host.messages == [(3, 1)]
            assert [r.signals[0].agent for r in replies] == list(names)
            await channel.close()
        finally:
            await server.stop(0.5)

    run(scenario())


def _without_latency(signals: Sequence[common_pb2.AgentSignal]) -> list[common_pb2.AgentSignal]:
    kept = []
    for signal in signals:
        copy = common_pb2.AgentSignal()
        copy.CopyFrom(signal)
        copy.ClearField("latency_ms")
        kept.append(copy)
    return kept


def test_an_agent_signals_alike_hosted_and_alone() -> None:
    """Purity: the same event and context give the same signal, co-hosted or alone."""

    async def scenario() -> None:
        items = [london_then_new_york()] * 3
        batch = agent_pb2.AssessBatchRequest(items=items).SerializeToString()
        host = RunningServer(
            AgentHostComponent([GeoAgent(), FixedAgent("behavior", 0.2)]), local()
        )
        alone = RunningServer(AgentComponent(GeoAgent()), local())
        await host.start()
        await alone.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as to_host, \
                    grpc.aio.insecure_channel(f"127.0.0.1:{alone.port}") as to_alone:
                hosted = await HostLane(to_host, 60).agent("geo").AssessBatch(batch, 5, ())
                single = await RawAgentStub(to_alone, 60).AssessBatch(batch, 5, ())
                # Lanes and unary calls that name their agent reach it at the host too.
                unary = await RawAgentStub(to_host, None, "geo").AssessBatch(batch, 5, ())
                on_lane = await RawAgentStub(to_host, 60, "geo").AssessBatch(batch, 5, ())
            assert hosted.signals[0].status == common_pb2.SIGNAL_STATUS_OK
            assert hosted.signals[0].reasons
            expected = _without_latency(single.signals)
            assert _without_latency(hosted.signals) == expected
            assert _without_latency(unary.signals) == expected
            assert _without_latency(on_lane.signals) == expected
        finally:
            await host.stop(0.5)
            await alone.stop(0.5)

    run(scenario())


def test_a_host_describes_and_assesses_each_agent_by_name() -> None:
    async def scenario() -> None:
        host = RunningServer(
            AgentHostComponent([FixedAgent("geo", 0.1), FixedAgent("behavior", 0.2)]), local()
        )
        await host.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
                stub = agent_pb2_grpc.AgentServiceStub(channel)
                for name, risk in (("geo", 0.1), ("behavior", 0.2)):
                    described = await stub.Describe(
                        agent_pb2.DescribeRequest(), metadata=((AGENT_HEADER, name),), timeout=5
                    )
                    assert described.name == name
                    assessed = await stub.Assess(
                        london_then_new_york(), metadata=((AGENT_HEADER, name),), timeout=5
                    )
                    assert assessed.signal.risk == pytest.approx(risk)
                with pytest.raises(grpc.aio.AioRpcError) as unnamed:
                    await stub.Describe(agent_pb2.DescribeRequest(), timeout=5)
                assert unnamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "geo, behavior" in (unnamed.value.details() or "")
                health = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="aegis.v1.AgentService"), timeout=5
                )
                assert health.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            await host.stop(0.5)

    run(scenario())


def test_a_replay_reads_each_hosted_agents_model_version() -> None:
    async def scenario() -> None:
        host = RunningServer(
            AgentHostComponent([FixedAgent("geo", 0.1), BlockedAgent("behavior")]), local()
        )
        await host.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
                stub = agent_pb2_grpc.AgentServiceStub(channel)
                versions = await running_versions({"geo": stub, "behavior": stub})
            assert versions == {"geo": "fixed-1", "behavior": "blocked-1"}
        finally:
            await host.stop(0.5)

    run(scenario())
