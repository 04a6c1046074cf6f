"""bench.pattern_floor's bare mesh: a Score sends the design's messages and answers as the
router does, one message a hop (to four agents or to their host), or several Scores a message
through the router's Batcher."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from aegis.v1 import common_pb2, router_pb2, router_pb2_grpc
from bench.pattern_floor import AGENTS, Router, items_per_message, start_server


@pytest.mark.parametrize("mode", ["plain", "batched", "hosted"])
def test_a_bare_score_goes_through_every_hop_and_reads_as_a_healthy_decision(mode: str) -> None:
    async def scenario() -> tuple[list[router_pb2.ScoreResponse], dict[str, float]]:
        audit = await start_server("audit")
        agents = ([await start_server("host")] if mode == "hosted"
                  else [await start_server("agent") for _ in AGENTS])
        router = await start_server(
            mode, f"127.0.0.1:{audit.port}", [f"127.0.0.1:{agent.port}" for agent in agents]
        )
        address = f"127.0.0.1:{router.port}"
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                score = router_pb2_grpc.RouterServiceStub(channel).Score
                replies = await asyncio.gather(*(
                    score(router_pb2.ScoreRequest(), timeout=10) for _ in range(20)
                ))
            return list(replies), await items_per_message(address)
        finally:
            for bare in (router, audit, *agents):
                await bare.stop()

    replies, batched = asyncio.run(scenario())
    for reply in replies:
        assert [s.agent for s in reply.decision.signals] == AGENTS
        assert all(s.status == common_pb2.SIGNAL_STATUS_OK for s in reply.decision.signals)
    assert set(batched) == {"context", "record", *(["host"] if mode == "hosted" else AGENTS)}
    if mode != "batched":
        assert set(batched.values()) == {1.0}
    # Whether Scores that come through gRPC share a message depends on how the server hands
    # them to the loop: the batched router's gathering is asserted below, where it is certain.


def test_the_batched_router_sends_scores_that_start_together_as_one_message_a_hop() -> None:
    async def scenario() -> dict[str, tuple[int, int]]:
        audit = await start_server("audit")
        agents = [await start_server("agent") for _ in AGENTS]
        router = Router(f"127.0.0.1:{audit.port}",
                        [f"127.0.0.1:{agent.port}" for agent in agents], batched=True, hosted=False)
        try:
            # Twenty Scores started in one turn of the loop all find the context hop's free
            # slot in that turn, so they go out together; every later hop gathers them too.
            replies = await asyncio.gather(*(router.score(b"", None) for _ in range(20)))
            assert len(set(replies)) == 1
            return {name: (stream.messages, stream.items)
                    for name, stream in router.streams.items()}
        finally:
            await router.close()
            for bare in (audit, *agents):
                await bare.stop()

    sent = asyncio.run(scenario())
    assert sent["context"] == (1, 20)
    assert all(items == 20 for _, items in sent.values())
    assert all(messages < 20 for messages, _ in sent.values())
