"""Bulk work applies back-pressure: a replay waits for a slow agent that a live Score, at the
same time, gives up on; an agent that is down still degrades a replayed decision, at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aegis.v1 import agent_pb2, agent_pb2_grpc, common_pb2, router_pb2
from aegis_runtime.lanes import Lanes, lane_method
from router_service.client.rows import ParsedRow
from router_service.client.stream import Outcome, replay
from router_service.client.summary import ReplaySummary
from router_service.fanout import ASSESS_BATCH
from tests.service.mesh import entry, start_mesh
from tests.service.test_router import FixedAgent, event

ROWS = 12
# Far below what the held agent takes: live calls to it time out.
LIVE_DEADLINE_MS = 30


class HeldAgent(agent_pb2_grpc.AgentServiceServicer):
    """Answers nothing until `release` is set, then every call at once: slower than any
    live deadline for as long as the test wants."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.lanes = Lanes()

    async def AssessBatch(self, request, context):
        return await self.answer(request, None)

    async def answer(self, request, deadline):
        self.entered.set()
        await self.release.wait()
        return agent_pb2.AssessBatchResponse(signals=[
            common_pb2.AgentSignal(agent="held", status=common_pb2.SIGNAL_STATUS_OK,
                                   risk=0.02, confidence=0.9, model_version="held-1")
            for _ in request.items
        ])

    # The router's batches come on its lane, each answered as AssessBatch would.
    AssessStream = lane_method(ASSESS_BATCH, answer, agent_pb2.AssessStreamResponse)


def rows() -> list[ParsedRow]:
    # Three users, their logins a minute apart, the newest a minute ago.
    now = time.time()
    return [
        ParsedRow(n, n, event(n, user=f"user-{n % 3}", when=now - 60 * (ROWS - n + 1)), None)
        for n in range(1, ROWS + 1)
    ]


def statuses(decision: common_pb2.Decision) -> dict[str, str]:
    return {s.agent: common_pb2.SignalStatus.Name(s.status) for s in decision.signals}


def test_replay_waits_for_a_slow_agent_that_a_live_score_times_out(tmp_path: Path) -> None:
    held = HeldAgent()

    async def scenario() -> tuple[ReplaySummary, list[Outcome], router_pb2.ScoreResponse]:
        mesh = await start_mesh(
            tmp_path,
            {"held": (entry("held", deadline_ms=LIVE_DEADLINE_MS, required=True), held),
             "geo": (entry("geo", required=True), FixedAgent("geo", 0.02))},
        )
        try:
            summary = ReplaySummary()
            outcomes: list[Outcome] = []
            replaying = asyncio.create_task(
                replay(mesh.router_stub(), rows(), summary, outcomes.append)
            )
            # The replay's first calls are held: from now on every call to the agent waits.
            await held.entered.wait()
            live = await mesh.router_stub().Score(
                router_pb2.ScoreRequest(event=event(99, user="live")), timeout=5
            )
            # Only now, after a live deadline has fired, does the agent answer.
            held.release.set()
            await replaying
            return summary, outcomes, live
        finally:
            await mesh.close()

    summary, outcomes, live = asyncio.run(scenario())
    assert statuses(live.decision)["held"] == "SIGNAL_STATUS_TIMEOUT"
    assert "held" in live.decision.degraded_agents
    assert summary.decisions == ROWS and summary.failed == 0
    assert summary.without_context == 0 and summary.required_agent_missing == 0
    for outcome in outcomes:
        assert outcome.decision is not None
        assert statuses(outcome.decision) == {
            "held": "SIGNAL_STATUS_OK", "geo": "SIGNAL_STATUS_OK"
        }, outcome
        assert not outcome.decision.degraded_agents


def test_a_down_agent_still_degrades_replayed_decisions(tmp_path: Path) -> None:
    async def scenario() -> tuple[ReplaySummary, list[Outcome]]:
        mesh = await start_mesh(
            tmp_path,
            {"down": (entry("down", required=True), None),
             "geo": (entry("geo", required=True), FixedAgent("geo", 0.02))},
        )
        try:
            summary = ReplaySummary()
            outcomes: list[Outcome] = []
            await replay(mesh.router_stub(), rows(), summary, outcomes.append)
            return summary, outcomes
        finally:
            await mesh.close()

    summary, outcomes = asyncio.run(scenario())
    assert summary.decisions == ROWS and summary.required_agent_missing == ROWS
    for outcome in outcomes:
        assert outcome.decision is not None
        assert statuses(outcome.decision)["down"] == "SIGNAL_STATUS_UNAVAILABLE"
