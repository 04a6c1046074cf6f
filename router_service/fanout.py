"""Concurrent fan-out of one login to every registered agent, each under its own deadline and
through its own batcher: concurrent Scores share one AssessBatch call per agent under load."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Sequence
from typing import Protocol

import grpc

from aegis.v1 import agent_pb2, common_pb2
from aegis_domain.convert import signal_from_proto
from aegis_domain.registry import AgentEntry
from aegis_domain.types import AgentSignal, SignalStatus
from aegis_runtime.grpc_metrics import client_call
from aegis_runtime.lanes import AGENT_HEADER
from aegis_runtime.telemetry import batch_call_span, method_path
from router_service.batching import Batched, Batcher, BatchLimits, BatchSizeMismatch
from router_service.deadline import Deadline
from router_service.instruments import BatchInstruments
from router_service.lane import batch_method
from router_service.wire import BatchFraming, message_bytes

ASSESS_BATCH = method_path(
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name, "AssessBatch"
)
_STATUS_OF_CODE = {
    grpc.StatusCode.DEADLINE_EXCEEDED: SignalStatus.TIMEOUT,
    grpc.StatusCode.UNAVAILABLE: SignalStatus.UNAVAILABLE,
}


_ASSESS_ITEMS = BatchFraming(agent_pb2.AssessBatchRequest)
# An answer with another status (a newer agent, a broken one) is that agent's ERROR signal.
_KNOWN_STATUSES = frozenset(status.value for status in SignalStatus)


class AgentStub(Protocol):
    """What the fan-out needs of an agent: AssessBatch with the request already serialized
    (RawAgentStub), or a direct call in benchmarks."""

    def AssessBatch(
        self, request: bytes, timeout: float, metadata: Sequence[tuple[str, str]],
    ) -> Awaitable[agent_pb2.AssessBatchResponse]: ...


class RawAgentStub:
    """An agent's AssessBatch over a channel, sent as the bytes the fan-out assembled: on a
    lane of streams that live `stream_max_age_s` each, or (None) one unary call a batch;
    named `agent` in its calls' metadata where given."""

    def __init__(
        self, channel: grpc.aio.Channel, stream_max_age_s: float | None,
        agent: str | None = None,
    ) -> None:
        # Calls name their agent: an agent host at the address serves several.
        self._named = () if agent is None else ((AGENT_HEADER, agent),)
        self._call = batch_method(
            channel, ASSESS_BATCH, agent_pb2.AssessBatchResponse,
            agent_pb2.AssessStreamResponse, stream_max_age_s, self._named,
        )

    def AssessBatch(
        self, request: bytes, timeout: float, metadata: Sequence[tuple[str, str]],
    ) -> Awaitable[agent_pb2.AssessBatchResponse]:
        return self._call(request, timeout=timeout,  # type: ignore[no-any-return]
                          metadata=(*metadata, *self._named))


class AgentClient:
    """One registered agent as the router calls it."""

    def __init__(
        self, entry: AgentEntry, stub: AgentStub, limits: BatchLimits | None = None
    ) -> None:
        self.entry = entry
        self.stub = stub
        # Items are framed AssessRequests (wire.BatchFraming): one serialization per Score.
        self.batcher: Batcher[bytes, common_pb2.AgentSignal] = Batcher(
            self._assess_batch, limits or BatchLimits(), size=len,
            observer=BatchInstruments(entry.name),
        )

    async def _assess_batch(
        self, items: Sequence[bytes], timeout_s: float
    ) -> Sequence[common_pb2.AgentSignal]:
        with batch_call_span(ASSESS_BATCH, len(items)) as metadata, client_call(ASSESS_BATCH):
            reply = await self.stub.AssessBatch(
                _ASSESS_ITEMS.batch(items), timeout=timeout_s, metadata=metadata
            )
        return reply.signals


def assess_request(event: common_pb2.LoginEvent, context: bytes) -> bytes:
    """The serialized AssessRequest of a login and its serialized context."""
    return message_bytes(agent_pb2.AssessRequest, event=event, context=context)


def _failed(name: str, status: SignalStatus, started: float, detail: str) -> AgentSignal:
    return AgentSignal(
        agent=name,
        status=status,
        latency_ms=(time.perf_counter() - started) * 1000,
        detail=detail,
    )


_Pending = asyncio.Future[Batched[common_pb2.AgentSignal]]


def _signal(
    client: AgentClient, pending: _Pending | None, started: float, budget: float
) -> AgentSignal:
    """One agent's signal from its finished call; any failure becomes a TIMEOUT /
    UNAVAILABLE / ERROR signal."""
    name = client.entry.name
    if pending is None:
        return _failed(name, SignalStatus.TIMEOUT, started, "no time left in the caller's deadline")
    try:
        batched = pending.result()
    except TimeoutError:
        return _failed(name, SignalStatus.TIMEOUT, started,
                       f"no answer within {budget * 1000:.0f} ms")
    except grpc.aio.AioRpcError as exc:
        status = _STATUS_OF_CODE.get(exc.code(), SignalStatus.ERROR)
        return _failed(name, status, started, f"{exc.code().name}: {exc.details()}")
    except BatchSizeMismatch as exc:
        return _failed(name, SignalStatus.ERROR, started, f"bad batch answer: {exc}")
    if batched.result.status not in _KNOWN_STATUSES:
        return _failed(name, SignalStatus.ERROR, started,
                       f"bad answer: unknown status {batched.result.status}")
    signal = signal_from_proto(batched.result)
    # The registry, not the agent's self-description, names the signal.
    signal.agent = name
    signal.latency_ms = (batched.answered_at - started) * 1000
    signal.batch_size = batched.batch_size
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
    request: bytes,
    deadline: Deadline,
    reserve_s: float,
    cap_s: float | None = None,
) -> list[AgentSignal]:
    """All agents at once, in registry order, asked the serialized AssessRequest `request`
    (assess_request). Each call may take the agent's registry deadline, or `cap_s` where
    given (bulk work), leaving `reserve_s` of the deadline."""
    started = time.perf_counter()
    # Serialized once for every agent: the context is most of it.
    item = _ASSESS_ITEMS.framed(request)
    calls: list[tuple[_Pending | None, float]] = []
    for client in clients:
        budget = deadline.budget(
            client.entry.deadline_ms / 1000 if cap_s is None else cap_s, reserve_s
        )
        # Every call is queued before any is awaited: they run at once, with no task each.
        calls.append((client.batcher.enqueue(item, budget) if budget > 0 else None, budget))
    try:
        for pending, _ in calls:
            if pending is not None:
                # A failed call is that agent's signal, read below; not the fan-out's failure.
                with contextlib.suppress(Exception):
                    await pending
    except BaseException:
        # Cancelled: the calls not yet sent are never sent.
        for pending, _ in calls:
            if pending is not None:
                pending.cancel()
        raise
    return [
        _signal(client, pending, started, budget)
        for client, (pending, budget) in zip(clients, calls, strict=True)
    ]
