"""Agents hosted by AgentComponent in a real gRPC server, called through a real channel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from aegis.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from aegis_domain.convert import context_to_proto, event_to_proto
from aegis_domain.types import (
    Action,
    AgentSignal,
    LoginContext,
    LoginEvent,
    PastLogin,
    SignalStatus,
)
from aegis_runtime.artifacts import METADATA_FILE, ArtifactError
from aegis_runtime.channels import service_channel
from aegis_runtime.server import RunningServer
from agent_services.base import Agent, AgentDescription
from agent_services.detection import DetectionAgent
from agent_services.geo import IMPOSSIBLE_TRAVEL, GeoAgent, GeoSettings
from agent_services.host import AgentComponent, AgentHostSettings

T = TypeVar("T")
NOW = 1_780_000_000.0


def host_settings() -> AgentHostSettings:
    return AgentHostSettings(port=0, grace_period_s=1.0, log_format="text")


async def with_agent(
    agent: Agent, calls: Callable[[agent_pb2_grpc.AgentServiceStub], Awaitable[T]]
) -> T:
    """Serve `agent` on a free port, run `calls` against it, drain and stop."""
    server = RunningServer(AgentComponent(agent), host_settings())
    await server.start()
    try:
        async with service_channel(f"127.0.0.1:{server.port}") as channel:
            return await calls(agent_pb2_grpc.AgentServiceStub(channel))
    finally:
        await server.stop(1.0)


def london_then_new_york() -> agent_pb2.AssessRequest:
    london = LoginEvent(
        event_id="ev-1",
        timestamp=NOW - 3600,
        user_id="alice",
        ip="81.2.69.160",
        country="GB",
        login_successful=True,
        latitude=51.5074,
        longitude=-0.1278,
        accuracy_radius_km=10.0,
    )
    new_york = LoginEvent(
        event_id="ev-2",
        timestamp=NOW,
        user_id="alice",
        ip="23.45.67.89",
        country="US",
        login_successful=True,
        latitude=40.7128,
        longitude=-74.0060,
        accuracy_radius_km=10.0,
    )
    context = LoginContext(history=[PastLogin(event=london, action=Action.ALLOW, risk=0.0)])
    return agent_pb2.AssessRequest(
        event=event_to_proto(new_york), context=context_to_proto(context)
    )


def test_geo_assesses_and_describes_over_grpc() -> None:
    agent = GeoAgent(GeoSettings())

    async def calls(
        stub: agent_pb2_grpc.AgentServiceStub,
    ) -> tuple[agent_pb2.AssessResponse, agent_pb2.DescribeResponse]:
        assessed = await stub.Assess(london_then_new_york(), timeout=5)
        described = await stub.Describe(agent_pb2.DescribeRequest(), timeout=5)
        return assessed, described

    assessed, described = asyncio.run(with_agent(agent, calls))

    signal = assessed.signal
    assert signal.agent == "geo"
    assert signal.status == common_pb2.SIGNAL_STATUS_OK
    assert signal.risk > 0.9
    assert signal.reasons[0].code == IMPOSSIBLE_TRAVEL
    assert "km/h" in signal.reasons[0].message
    assert signal.model_version == agent.version
    assert signal.latency_ms > 0
    assert described.name == "geo"
    assert described.state == agent_pb2.AGENT_STATE_READY
    assert described.model_version == agent.version
    assert "latitude" in described.features


def test_an_agent_without_model_answers_no_model_over_grpc(tmp_path: Path) -> None:
    agent = DetectionAgent(tmp_path / "detection")

    async def calls(
        stub: agent_pb2_grpc.AgentServiceStub,
    ) -> tuple[agent_pb2.AssessResponse, agent_pb2.DescribeResponse]:
        assessed = await stub.Assess(london_then_new_york(), timeout=5)
        described = await stub.Describe(agent_pb2.DescribeRequest(), timeout=5)
        return assessed, described

    assessed, described = asyncio.run(with_agent(agent, calls))

    assert assessed.signal.status == common_pb2.SIGNAL_STATUS_NO_MODEL
    assert "make train" in assessed.signal.detail
    assert described.state == agent_pb2.AGENT_STATE_NO_MODEL


def test_a_corrupt_artifact_stops_the_server_from_starting(tmp_path: Path) -> None:
    (tmp_path / METADATA_FILE).write_text(json.dumps({"model_version": "v1"}))
    (tmp_path / "model.json").write_text("{not a model")

    async def start() -> None:
        server = RunningServer(AgentComponent(DetectionAgent(tmp_path)), host_settings())
        try:
            await server.start()
        finally:
            await server.stop(0)

    with pytest.raises(ArtifactError, match="cannot load XGBoost model"):
        asyncio.run(start())


class ChokesOnBob(Agent):
    """Risk from the history length; raises on any login of user bob (an agent bug)."""

    name = "choosy"

    def assess(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        if event.user_id == "bob":
            raise ValueError("cannot handle bob")
        return AgentSignal(agent=self.name, status=SignalStatus.OK,
                           risk=len(context.history) / 10, confidence=1.0)

    def describe(self) -> AgentDescription:
        return AgentDescription(name=self.name, model_version="1")


def test_a_batch_answers_in_order_and_a_login_the_agent_chokes_on_costs_only_its_signal() -> None:
    alice = london_then_new_york()
    bob = agent_pb2.AssessRequest()
    bob.CopyFrom(alice)
    bob.event.user_id = "bob"
    fresh = agent_pb2.AssessRequest(event=alice.event)

    async def calls(stub: agent_pb2_grpc.AgentServiceStub) -> agent_pb2.AssessBatchResponse:
        return await stub.AssessBatch(
            agent_pb2.AssessBatchRequest(items=[alice, bob, fresh]), timeout=5
        )

    reply = asyncio.run(with_agent(ChokesOnBob(), calls))
    assert [s.status for s in reply.signals] == [
        common_pb2.SIGNAL_STATUS_OK, common_pb2.SIGNAL_STATUS_ERROR, common_pb2.SIGNAL_STATUS_OK,
    ]
    assert [s.risk for s in reply.signals] == [0.1, 0.0, 0.0]
    assert "cannot handle bob" in reply.signals[1].detail


def test_a_batch_gets_the_signals_of_one_call_each() -> None:
    agent = GeoAgent(GeoSettings())
    same_place = london_then_new_york()
    same_place.event.country = "GB"
    same_place.event.latitude, same_place.event.longitude = 51.5, -0.12
    items = [london_then_new_york(), same_place, agent_pb2.AssessRequest(
        event=london_then_new_york().event)]

    async def calls(stub: agent_pb2_grpc.AgentServiceStub):
        batch = await stub.AssessBatch(agent_pb2.AssessBatchRequest(items=items), timeout=5)
        alone = [(await stub.Assess(item, timeout=5)).signal for item in items]
        return batch.signals, alone

    batch, alone = asyncio.run(with_agent(agent, calls))

    def meaning(s: common_pb2.AgentSignal) -> tuple:
        return (s.status, s.risk, s.confidence, tuple((r.code, r.message) for r in s.reasons))

    assert [meaning(s) for s in batch] == [meaning(s) for s in alone]
    assert len({meaning(s) for s in alone}) == 3
