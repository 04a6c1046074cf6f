"""Lanes through real servers: batch calls as messages on one long-lived stream answer and
fail as their unary calls would, each on its own, and survive restarts and drains."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
import pytest

from aegis.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from aegis_runtime.errors import InvalidArgument
from aegis_runtime.lanes import Lanes, lane_method
from aegis_runtime.server import RunningServer
from router_service.fanout import ASSESS_BATCH, RawAgentStub
from tests.service.mesh import ServicerComponent, local
from tests.service.test_recovery import on_port

# Past any time a test waits for: only a hang (the bug under test) reaches it.
HANG_S = 30.0


def batch(*users: str) -> bytes:
    return agent_pb2.AssessBatchRequest(items=[
        agent_pb2.AssessRequest(event=common_pb2.LoginEvent(user_id=user)) for user in users
    ]).SerializeToString()


class Controlled(agent_pb2_grpc.AgentServiceServicer):
    """Answers each login with its user id as the signal's detail; user "bad" makes the batch
    refused (INVALID_ARGUMENT), "hang" never answered, "gate" answered once `release` is set.
    Counts the streams opened and the unary calls made."""

    def __init__(self) -> None:
        self.lanes = Lanes()
        self.streams = 0
        self.streams_ended = 0
        self.unary_calls = 0
        self.gated = asyncio.Event()
        self.release = asyncio.Event()
        self.hang_cancelled = asyncio.Event()

    async def AssessBatch(self, request, context):
        self.unary_calls += 1
        return await self.answer(request, None)

    async def AssessStream(self, request_iterator, context):
        self.streams += 1
        async for reply in self.lane(request_iterator, context):
            yield reply
        self.streams_ended += 1

    async def answer(self, request, deadline):
        users = [item.event.user_id for item in request.items]
        if "bad" in users:
            raise InvalidArgument("items[0].event.user_id", "is bad")
        if "hang" in users:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.hang_cancelled.set()
                raise
        if "gate" in users:
            self.gated.set()
            await self.release.wait()
        return agent_pb2.AssessBatchResponse(signals=[
            common_pb2.AgentSignal(agent="controlled", detail=user) for user in users
        ])

    lane = lane_method(ASSESS_BATCH, answer, agent_pb2.AssessStreamResponse)


class LaneComponent(ServicerComponent):
    """Hosts a Controlled servicer, its lanes told of the drain as AgentComponent's are."""

    servicer: Controlled

    def drain(self) -> None:
        self.servicer.lanes.drain()


class Unary(agent_pb2_grpc.AgentServiceServicer):
    """An agent of before lanes: AssessBatch only."""

    def __init__(self) -> None:
        self.calls = 0

    async def AssessBatch(self, request, context):
        self.calls += 1
        return agent_pb2.AssessBatchResponse(signals=[
            common_pb2.AgentSignal(agent="unary", detail=item.event.user_id)
            for item in request.items
        ])


def details(reply: agent_pb2.AssessBatchResponse) -> list[str]:
    return [signal.detail for signal in reply.signals]


def component(servicer: agent_pb2_grpc.AgentServiceServicer) -> ServicerComponent:
    return LaneComponent(servicer) if isinstance(servicer, Controlled) else ServicerComponent(
        servicer
    )


def served(
    servicer: agent_pb2_grpc.AgentServiceServicer,
    scenario: Callable[[RunningServer, grpc.aio.Channel, RawAgentStub], Awaitable[None]],
    stream_max_age_s: float = HANG_S,
) -> None:
    """Runs `scenario` against `servicer` on a real server, through a lane."""
    async def run() -> None:
        server = RunningServer(component(servicer), local())
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        try:
            await scenario(server, channel, RawAgentStub(channel, stream_max_age_s))
        finally:
            await channel.close()
            await server.stop(0)

    asyncio.run(run())


def test_concurrent_batches_share_one_stream_and_each_gets_its_own_answer() -> None:
    servicer = Controlled()

    async def scenario(server, channel, stub) -> None:
        replies = await asyncio.gather(*(
            stub.AssessBatch(batch(f"u{n}", f"v{n}"), timeout=HANG_S, metadata=())
            for n in range(8)
        ))
        assert [details(r) for r in replies] == [[f"u{n}", f"v{n}"] for n in range(8)]
        assert (servicer.streams, servicer.unary_calls) == (1, 0)

    served(servicer, scenario)


def test_a_batch_past_its_time_fails_alone_and_the_stream_goes_on() -> None:
    servicer = Controlled()

    async def scenario(server, channel, stub) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.AssessBatch(batch("hang"), timeout=0.05, metadata=())
        assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert details(await stub.AssessBatch(batch("a"), timeout=HANG_S, metadata=())) == ["a"]
        assert servicer.streams == 1
        # The server gave up on it too, as it cancels a unary call past its deadline.
        await asyncio.wait_for(servicer.hang_cancelled.wait(), HANG_S)

    served(servicer, scenario)


def test_a_refused_batch_fails_with_its_code_and_the_others_are_answered() -> None:
    servicer = Controlled()

    async def scenario(server, channel, stub) -> None:
        refused, answered = await asyncio.gather(
            stub.AssessBatch(batch("bad"), timeout=HANG_S, metadata=()),
            stub.AssessBatch(batch("a"), timeout=HANG_S, metadata=()),
            return_exceptions=True,
        )
        assert isinstance(refused, grpc.aio.AioRpcError)
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "is bad" in (refused.details() or "")
        assert details(answered) == ["a"]
        assert servicer.streams == 1

    served(servicer, scenario)


def test_batches_in_flight_fail_unavailable_when_the_service_goes_and_a_new_stream_serves_after()\
        -> None:
    servicer = Controlled()

    async def scenario(server, channel, stub) -> None:
        in_flight = asyncio.ensure_future(
            stub.AssessBatch(batch("gate"), timeout=HANG_S, metadata=())
        )
        await servicer.gated.wait()
        await server.stop(0)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await in_flight
        assert failed.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        restarted = RunningServer(component(servicer), on_port(server.port))
        await restarted.start()
        try:
            await asyncio.wait_for(channel.channel_ready(), HANG_S)
            reply = await stub.AssessBatch(batch("a"), timeout=HANG_S, metadata=())
            assert details(reply) == ["a"]
            assert servicer.streams == 2
        finally:
            await restarted.stop(0)

    served(servicer, scenario)


def test_a_draining_server_answers_what_was_sent_without_waiting_out_its_grace() -> None:
    servicer = Controlled()

    async def scenario(server, channel, stub) -> None:
        in_flight = asyncio.ensure_future(
            stub.AssessBatch(batch("gate"), timeout=HANG_S, metadata=())
        )
        await servicer.gated.wait()
        # With a grace this long, only the lane's half-close lets the drain end in time.
        stopping = asyncio.ensure_future(server.stop(HANG_S * 4))
        servicer.release.set()
        assert details(await in_flight) == ["gate"]
        await asyncio.wait_for(stopping, HANG_S)

    served(servicer, scenario)


def test_an_aged_stream_is_replaced_and_closed_once_its_batches_are_answered() -> None:
    servicer = Controlled()

    async def scenario(server, channel, stub) -> None:
        # Every stream is past its age by the next batch: each batch opens a new one.
        for user in ("a", "b", "c"):
            reply = await stub.AssessBatch(batch(user), timeout=HANG_S, metadata=())
            assert details(reply) == [user]
        assert servicer.streams == 3
        # The server's side of each replaced stream ends once its client has half-closed.
        await asyncio.wait_for(server.stop(HANG_S * 4), HANG_S)

    served(servicer, scenario, stream_max_age_s=1e-9)
    assert servicer.streams_ended == 3


def test_a_service_without_the_stream_method_gets_unary_calls() -> None:
    servicer = Unary()

    async def scenario(server, channel, stub) -> None:
        for user in ("a", "b"):
            reply = await stub.AssessBatch(batch(user), timeout=HANG_S, metadata=())
            assert details(reply) == [user]
        assert servicer.calls == 2

    served(servicer, scenario)


def test_concurrent_first_batches_to_a_service_without_the_stream_method_all_get_answers() -> None:
    servicer = Unary()

    async def scenario(server, channel, stub) -> None:
        # Written before the server's refusal comes back: each must still be answered.
        replies = await asyncio.gather(*(
            stub.AssessBatch(batch(f"u{n}"), timeout=HANG_S, metadata=()) for n in range(32)
        ))
        assert [details(r) for r in replies] == [[f"u{n}"] for n in range(32)]
        assert servicer.calls == 32

    served(servicer, scenario)


def test_a_lane_cut_with_tracing_on_leaves_no_context_to_detach(caplog) -> None:
    # conftest installs a tracer provider: every server here runs its tracing interceptor.
    servicer = Controlled()

    async def scenario(server, channel, stub) -> None:
        assert details(await stub.AssessBatch(batch("a"), timeout=HANG_S, metadata=())) == ["a"]
        # The server stops with the stream open: the stream is cut, not ended.

    with caplog.at_level(logging.ERROR):
        # Twice: the first server of a process may leave its stream to the garbage collector.
        served(servicer, scenario)
        served(servicer, scenario)
    assert not [r for r in caplog.records if "detach" in r.getMessage()]
