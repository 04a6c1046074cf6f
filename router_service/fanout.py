"""Concurrent fan-out of one Assess to every registered agent, each under its own deadline."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

import grpc

from aegis.v1 import agent_pb2
from aegis_domain.convert import signal_from_proto
from aegis_domain.types import AgentSignal, SignalStatus
from agent_services.registry import AgentEntry
from router_service.deadline import Deadline

_STATUS_OF_CODE = {
    grpc.StatusCode.DEADLINE_EXCEEDED: SignalStatus.TIMEOUT,
    grpc.StatusCode.UNAVAILABLE: SignalStatus.UNAVAILABLE,
}


class AgentStub(Protocol):
    """What the fan-out needs of an agent: the generated stub, or a direct call in benchmarks."""

    def Assess(
        self, request: agent_pb2.AssessRequest, timeout: float
    ) -> Awaitable[agent_pb2.AssessResponse]: ...


@dataclass(frozen=True, slots=True)
class AgentClient:
    entry: AgentEntry
    stub: AgentStub


def _failed(name: str, status: SignalStatus, started: float, detail: str) -> AgentSignal:
    return AgentSignal(
        agent=name,
        status=status,
        latency_ms=(time.perf_counter() - started) * 1000,
        detail=detail,
    )


async def assess_one(
    client: AgentClient, request: agent_pb2.AssessRequest, deadline: Deadline, reserve_s: float
) -> AgentSignal:
    """One agent's signal; any failure becomes a TIMEOUT / UNAVAILABLE / ERROR signal."""
    name = client.entry.name
    started = time.perf_counter()
    budget = deadline.budget(client.entry.deadline_ms / 1000, reserve_s)
    if budget <= 0:
        return _failed(name, SignalStatus.TIMEOUT, started, "no time left in the caller's deadline")
    try:
        reply = await client.stub.Assess(request, timeout=budget)
    except grpc.aio.AioRpcError as exc:
        status = _STATUS_OF_CODE.get(exc.code(), SignalStatus.ERROR)
        return _failed(name, status, started, f"{exc.code().name}: {exc.details()}")
    signal = signal_from_proto(reply.signal)
    # The registry, not the agent's self-description, names the signal.
    signal.agent = name
    signal.latency_ms = (time.perf_counter() - started) * 1000
    if signal.status is SignalStatus.OK and not (
        math.isfinite(signal.risk) and 0 <= signal.risk <= 1
        and math.isfinite(signal.confidence) and 0 <= signal.confidence <= 1
    ):
        return _failed(
            name, SignalStatus.ERROR, started,
            f"risk {signal.risk} / confidence {signal.confidence} outside [0, 1]",
        )
    return signal


async def assess_all(
    clients: list[AgentClient],
    request: agent_pb2.AssessRequest,
    deadline: Deadline,
    reserve_s: float,
) -> list[AgentSignal]:
    """All agents at once, in registry order."""
    return list(
        await asyncio.gather(*(assess_one(c, request, deadline, reserve_s) for c in clients))
    )
