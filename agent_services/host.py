"""The generic agent host: serves any registered Agent over aegis.v1.AgentService."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aegis.v1 import agent_pb2, agent_pb2_grpc
from aegis_domain.convert import context_from_proto, event_from_proto, signal_to_proto
from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, SignalStatus
from aegis_runtime.errors import InvalidArgument, grpc_errors
from aegis_runtime.lanes import Lanes, lane_method
from aegis_runtime.server import ServiceBinding
from aegis_runtime.settings import ServiceSettings
from aegis_runtime.telemetry import method_path
from agent_services.base import Agent
from agent_services.instruments import AgentInstruments

log = logging.getLogger(__name__)

# Batches on a lane are traced and logged as the AssessBatch calls they stand for.
ASSESS_BATCH = method_path(agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
                           "AssessBatch")


class AgentHostSettings(ServiceSettings):
    """Settings of an agent process; env prefix AEGIS_AGENT_."""

    model_config = SettingsConfigDict(env_prefix="AEGIS_AGENT_", extra="ignore")

    model_dir: Path = Field(
        Path(".aegis/models"),
        description="Folder of trained model artifacts; each agent reads its own subfolder.",
    )


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    """Protobuf in, domain types to the agent, protobuf out."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.metrics = AgentInstruments(agent)
        self.lanes = Lanes()

    @grpc_errors
    async def Assess(
        self, request: agent_pb2.AssessRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AssessResponse:
        # A single login that cannot be read is the caller's error (INVALID_ARGUMENT); in a
        # batch it is that item's ERROR signal (assess_batch).
        event_from_proto(request.event)
        context_from_proto(request.context)
        return agent_pb2.AssessResponse(signal=signal_to_proto(self.assess(request)))

    async def AssessBatch(
        self, request: agent_pb2.AssessBatchRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AssessBatchResponse:
        return await self._assess_batch_reply(request, None)

    async def _assess_batch_reply(
        self, request: agent_pb2.AssessBatchRequest, deadline: float | None
    ) -> agent_pb2.AssessBatchResponse:
        return agent_pb2.AssessBatchResponse(
            signals=[signal_to_proto(s) for s in self.assess_batch(request.items)]
        )

    # AssessBatch calls on one stream (the router's lane).
    AssessStream = lane_method(ASSESS_BATCH, _assess_batch_reply, agent_pb2.AssessStreamResponse)

    def assess(self, request: agent_pb2.AssessRequest) -> AgentSignal:
        return self.assess_batch([request])[0]

    def assess_batch(self, items: Sequence[agent_pb2.AssessRequest]) -> list[AgentSignal]:
        """One signal per item. When the batch fails, each login is assessed alone, so that a
        login the agent chokes on costs its own signal, not its neighbours'."""
        started = time.perf_counter()
        requests: list[tuple[LoginEvent, LoginContext]] = []
        # Index of each readable item among `items`; the others get their own ERROR signal.
        readable: list[int] = []
        by_index: dict[int, AgentSignal] = {}
        for index, item in enumerate(items):
            try:
                requests.append((event_from_proto(item.event), context_from_proto(item.context)))
            except InvalidArgument as exc:
                by_index[index] = AgentSignal(agent=self.agent.name, status=SignalStatus.ERROR,
                                              detail=f"INVALID_ARGUMENT: {exc.message}")
            else:
                readable.append(index)
        try:
            assessed = self.agent.assess_batch(requests) if requests else []
        except Exception:
            log.exception("batch assess failed; assessing one by one",
                          extra={"agent": self.agent.name, "batch_size": len(requests)})
            assessed = [self._assess_alone(event, context) for event, context in requests]
        by_index.update(zip(readable, assessed, strict=True))
        signals = [by_index[index] for index in range(len(items))]
        elapsed_s = time.perf_counter() - started
        self.metrics.assessed(len(requests), elapsed_s)
        elapsed_ms = elapsed_s * 1000
        for signal in signals:
            signal.latency_ms = elapsed_ms
        return signals

    def _assess_alone(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        try:
            return self.agent.assess(event, context)
        except Exception as exc:
            # An agent bug must cost one signal, not the decision: the router records ERROR.
            log.exception("assess failed", extra={"agent": self.agent.name})
            return AgentSignal(
                agent=self.agent.name,
                status=SignalStatus.ERROR,
                detail=f"{type(exc).__name__}: {exc}",
            )

    async def Describe(
        self, request: agent_pb2.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.DescribeResponse:
        d = self.agent.describe()
        return agent_pb2.DescribeResponse(
            name=d.name,
            model_version=d.model_version,
            features=d.features,
            state=agent_pb2.AGENT_STATE_READY if d.ready else agent_pb2.AGENT_STATE_NO_MODEL,
            description=d.description,
        )


def agent_service_binding(servicer: agent_pb2_grpc.AgentServiceServicer) -> ServiceBinding:
    """How any AgentService implementation is added to a server."""
    return ServiceBinding(
        agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
        lambda server: agent_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server),
    )


class AgentComponent:
    """An agent as a hosted component: loads its model before SERVING."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.servicer = AgentServicer(agent)

    def bindings(self) -> Sequence[ServiceBinding]:
        return [agent_service_binding(self.servicer)]

    async def start(self) -> None:
        self.agent.load()

    def drain(self) -> None:
        self.servicer.lanes.drain()

    async def close(self) -> None:
        return None
