"""bench.pattern_floor's bare mesh: a Score sends the design's messages and answers as the
router does, one message a hop (to four agents or to their host), or several Scores a message
through the router's Batcher."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from aegis.v1 import common_pb2, router_pb2, router_pb2_grpc
from bench.pattern_floor import AGENTS, items_per_message, start_server


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
    else:
        # Twenty Scores at once, two calls in flight a hop: some go together. Which hops gather
        # depends on how the Scores' replies interleave, so the test asks for one at least.
        assert max(batched.values()) > 1
