"""The lane of an agent host: several agents served by one process at one address.

Each agent keeps its own batcher, deadline and degradation (router_service.fanout); what the
agents of a host share is the message. The batch calls that one turn of the event loop makes
to them (a Score's fan-out queues all its agents in one turn) go as one AssessHost message on
one stream, a batch sent to several agents once, and the host answers each agent's call as
it finishes: the process wakes once per turn's calls instead of once per agent, and a slow
agent delays only its own answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc

from aegis.v1 import agent_pb2
from aegis_runtime.telemetry import method_path
from router_service.lane import LaneStream, StreamSlot, Unread, answer
from router_service.wire import field

ASSESS_HOST = method_path(
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name, "AssessHost"
)
_CALLS = agent_pb2.AssessHostRequest.DESCRIPTOR.fields_by_name["calls"].number
_BATCHES = agent_pb2.AssessHostRequest.DESCRIPTOR.fields_by_name["batches"].number
_CALL_HEADER = agent_pb2.AgentBatchCall.DESCRIPTOR.fields_by_name["header"].number
_CALL_AGENT = agent_pb2.AgentBatchCall.DESCRIPTOR.fields_by_name["agent"].number


def _host_request(calls: Sequence[tuple[bytes, str, bytes]]) -> bytes:
    """The AssessHostRequest of (header, agent, AssessBatchRequest) calls: a batch that
    several agents were sent at once travels once."""
    batches: dict[bytes, int] = {}
    encoded: list[bytes] = []
    for header, agent, batch in calls:
        index = batches.setdefault(batch, len(batches))
        call = agent_pb2.AgentBatchCall(batch=index).SerializeToString()
        encoded.append(field(_CALLS, field(_CALL_HEADER, header)
                             + field(_CALL_AGENT, agent.encode()) + call))
    encoded.extend(field(_BATCHES, batch) for batch in batches)
    return b"".join(encoded)


async def _flush(stream: LaneStream) -> None:
    async with stream.writing:
        calls, stream.queued = stream.queued, []
        try:
            await stream.call.write(_host_request(calls))
        except Exception:
            # The call has ended or is ending; its reader answers every call on it with how.
            stream.accepting = False


class HostLane:
    """One stream to an agent host, replaced after `max_age_s` as a lane's is; `agent(name)`
    is that agent's AssessBatch on it (fanout.AgentStub)."""

    def __init__(self, channel: grpc.aio.Channel, max_age_s: float) -> None:
        self._slot = StreamSlot(channel.stream_stream(
            ASSESS_HOST, request_serializer=None,
            response_deserializer=agent_pb2.AssessHostResponse.FromString,
        ), max_age_s, answers=lambda reply: reply.replies)
        self._flushes: set[asyncio.Task[None]] = set()

    def agent(self, name: str) -> HostedAgentStub:
        return HostedAgentStub(self, name)

    async def call(
        self, agent: str, request: bytes, timeout: float, metadata: Sequence[tuple[str, str]],
    ) -> Any:
        """`agent`'s reply to the AssessBatchRequest `request`, or the error its unary call
        would have raised."""
        stream = await self._slot.current()
        header, batch_id = self._slot.header(timeout, metadata)

        async def send() -> None:
            stream.queued.append((header, agent, request))
            if len(stream.queued) == 1:
                # Written once the rest of this turn has run: the calls it makes (the Score's
                # other agents) go along. A task of its own, so that no caller's
                # cancellation strands the calls queued behind it.
                flush = asyncio.create_task(_flush(stream))
                self._flushes.add(flush)
                flush.add_done_callback(self._flushes.discard)

        try:
            return await answer(stream, batch_id, timeout, send)
        except Unread as unread:
            # A host always has AssessHost: a stream that ended unread is the host gone.
            raise unread.error from None


class HostedAgentStub:
    """One agent of a host, called as fanout.AgentStub."""

    def __init__(self, lane: HostLane, name: str) -> None:
        self._lane = lane
        self._name = name

    async def AssessBatch(
        self, request: bytes, timeout: float, metadata: Sequence[tuple[str, str]],
    ) -> agent_pb2.AssessBatchResponse:
        reply: agent_pb2.AssessBatchResponse = await self._lane.call(
            self._name, request, timeout, metadata
        )
        return reply
