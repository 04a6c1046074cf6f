"""The generic agent host: serves any registered Agent over aegis.v1.AgentService."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aegis.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from aegis_domain.convert import context_from_proto, event_from_proto, signal_to_proto
from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, SignalStatus
from aegis_runtime.errors import InvalidArgument, grpc_errors
from aegis_runtime.lanes import AGENT_HEADER, LANE_HEADER, BatchHandler, Lanes, lane_method
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
        return self.batch_reply(request)

    def batch_reply(self, request: agent_pb2.AssessBatchRequest) -> agent_pb2.AssessBatchResponse:
        """AssessBatch's reply, without its call."""
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


class AgentHostServicer(agent_pb2_grpc.AgentServiceServicer):
    """Several agents behind one AgentService (an agent host, one process at one address).
    A unary call or an AssessStream names its agent in the `aegis-agent` metadata; an
    AssessHost message carries batch calls for several agents at once, each agent's on a
    thread of its own, answered as each finishes: a slow agent delays and times out alone,
    as it would in a process of its own (the GIL still runs one agent's Python at a time)."""

    def __init__(self, servicers: Sequence[AgentServicer]) -> None:
        self.servicers = {servicer.agent.name: servicer for servicer in servicers}
        # One thread an agent: an agent's batches run one at a time, as in its own process.
        self._threads = {
            name: ThreadPoolExecutor(1, thread_name_prefix=f"agent-{name}",
                                     initializer=_name_thread, initargs=(f"agent-{name}",))
            for name in self.servicers
        }
        # Each agent's thread is there, and named, from the start: waited for, as a thread
        # names itself only once it runs (a meter reading the names at once missed some).
        for started in [threads.submit(int) for threads in self._threads.values()]:
            started.result()
        self._handlers = {
            name: functools.partial(self._assess_on_thread, name) for name in self.servicers
        }
        self.lanes = Lanes()

    def _servicer(self, context: grpc.aio.ServicerContext) -> AgentServicer:
        name = dict(context.invocation_metadata() or ()).get(AGENT_HEADER)
        if name is None and len(self.servicers) == 1:
            return next(iter(self.servicers.values()))
        servicer = self.servicers.get(name or "")
        if servicer is None:
            raise InvalidArgument(
                f"metadata {AGENT_HEADER}",
                f"{name!r} is not hosted here; one of {', '.join(self.servicers)}",
            )
        return servicer

    @grpc_errors
    async def Assess(
        self, request: agent_pb2.AssessRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AssessResponse:
        return await self._servicer(context).Assess(request, context)

    @grpc_errors
    async def AssessBatch(
        self, request: agent_pb2.AssessBatchRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AssessBatchResponse:
        return await self._servicer(context).AssessBatch(request, context)

    @grpc_errors
    async def Describe(
        self, request: agent_pb2.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.DescribeResponse:
        return await self._servicer(context).Describe(request, context)

    async def AssessStream(
        self, requests: AsyncIterator[agent_pb2.AssessStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[agent_pb2.AssessStreamResponse]:
        try:
            servicer = self._servicer(context)
        except InvalidArgument as exc:
            await context.abort(exc.code, exc.message)
        async for reply in servicer.AssessStream(requests, context):
            yield reply

    async def AssessHost(
        self, requests: AsyncIterator[agent_pb2.AssessHostRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[agent_pb2.AssessHostResponse]:
        await context.send_initial_metadata(((LANE_HEADER, "1"),))
        async for reply in self.lanes.serve_calls(
            ASSESS_BATCH, requests, self._calls, agent_pb2.AssessStreamResponse,
            lambda replies: agent_pb2.AssessHostResponse(replies=replies),
        ):
            yield reply

    def _calls(self, request: agent_pb2.AssessHostRequest) -> list[tuple[
        common_pb2.StreamBatchHeader, agent_pb2.AssessBatchRequest, BatchHandler
    ]]:
        return [
            (call.header, request.batches[call.batch],
             self._handlers.get(call.agent) or functools.partial(_not_hosted, call.agent))
            for call in request.calls
        ]

    async def _assess_on_thread(
        self, name: str, batch: agent_pb2.AssessBatchRequest, deadline: float | None,
    ) -> agent_pb2.AssessBatchResponse:
        return await asyncio.get_running_loop().run_in_executor(
            self._threads[name], self._assess_unless_late, name, batch, deadline
        )

    def _assess_unless_late(
        self, name: str, batch: agent_pb2.AssessBatchRequest, deadline: float | None,
    ) -> agent_pb2.AssessBatchResponse:
        # A batch that waited past its time behind the agent's earlier ones is not worth
        # assessing: its answer (DEADLINE_EXCEEDED) has gone already.
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError
        return self.servicers[name].batch_reply(batch)

    def close(self) -> None:
        for threads in self._threads.values():
            threads.shutdown(wait=False, cancel_futures=True)


def _name_thread(name: str) -> None:
    """Gives the calling thread `name` where the OS shows it (Linux: top -H, py-spy, and the
    bench's CPU per agent, bench.cpu), so that each agent's CPU in a host is its own."""
    with contextlib.suppress(OSError):
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_text(name[:15])


async def _not_hosted(name: str, batch: Any, deadline: float | None) -> Message:
    raise InvalidArgument("agent", f"{name!r} is not hosted here")


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


class AgentHostComponent:
    """Several agents in one process (an agent host): each loads its model before SERVING."""

    def __init__(self, agents: Sequence[Agent]) -> None:
        self.agents = agents
        self.servicer = AgentHostServicer([AgentServicer(agent) for agent in agents])

    def bindings(self) -> Sequence[ServiceBinding]:
        return [agent_service_binding(self.servicer)]

    async def start(self) -> None:
        for agent in self.agents:
            agent.load()

    def drain(self) -> None:
        self.servicer.lanes.drain()
        for servicer in self.servicer.servicers.values():
            servicer.lanes.drain()

    async def close(self) -> None:
        self.servicer.close()
