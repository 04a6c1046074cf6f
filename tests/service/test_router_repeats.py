"""One decision per login through the real router and audit service: a Score of an event id
already decided gets that decision back (flagged as a repeat, asking no agent), concurrent
Scores of one event get one decision, and a repeat with other content is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from aegis.v1 import audit_pb2, router_pb2
from tests.service.mesh import Mesh, entry, start_mesh
from tests.service.test_router import FixedAgent, event


def on_mesh(tmp_path: Path, body: Callable[[Mesh, FixedAgent], Awaitable[None]],
            **router_settings: Any) -> None:
    """Run `body` against a router, the audit service and one geo agent."""

    async def scenario() -> None:
        geo = FixedAgent("geo", 0.05)
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), geo)}, **router_settings)
        try:
            await body(mesh, geo)
        finally:
            await mesh.close()

    asyncio.run(scenario())


async def recorded(mesh) -> list[audit_pb2.DecisionSummary]:
    reply = await mesh.audit_stub().ListDecisions(audit_pb2.ListDecisionsRequest(), timeout=5)
    return list(reply.decisions)


def test_a_repeated_score_returns_the_recorded_decision(tmp_path: Path) -> None:
    async def body(mesh: Mesh, geo: FixedAgent) -> None:
        stub = mesh.router_stub()
        login = event()
        first = await stub.Score(router_pb2.ScoreRequest(event=login), timeout=5)
        again = await stub.Score(router_pb2.ScoreRequest(event=login), timeout=5)

        assert not first.repeat and again.repeat
        assert again.decision.decision_id == first.decision.decision_id
        assert again.decision.audit_ref == first.decision.audit_ref
        assert again.decision.action == first.decision.action
        assert len(geo.history_seen) == 1  # the repeat asked no agent
        assert [d.decision_id for d in await recorded(mesh)] == [first.decision.decision_id]

    on_mesh(tmp_path, body)


def test_concurrent_scores_of_one_event_yield_one_decision(tmp_path: Path) -> None:
    async def body(mesh: Mesh, geo: FixedAgent) -> None:
        stub = mesh.router_stub()
        login = event()
        replies = await asyncio.gather(*(
            stub.Score(router_pb2.ScoreRequest(event=login), timeout=5) for _ in range(8)
        ))

        assert len({r.decision.decision_id for r in replies}) == 1
        assert [r.repeat for r in replies].count(False) == 1
        assert len(await recorded(mesh)) == 1

    on_mesh(tmp_path, body)


def test_a_repeat_with_other_content_is_refused(tmp_path: Path) -> None:
    async def body(mesh: Mesh, geo: FixedAgent) -> None:
        stub = mesh.router_stub()
        login = event()
        await stub.Score(router_pb2.ScoreRequest(event=login), timeout=5)
        other = event()
        other.ip = "198.51.100.7"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Score(router_pb2.ScoreRequest(event=other), timeout=5)

        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert (refused.value.details() or "").startswith("event.event_id: ")
        assert len(await recorded(mesh)) == 1

    on_mesh(tmp_path, body)


def test_a_stream_gets_repeats_back_flagged(tmp_path: Path) -> None:
    async def body(mesh: Mesh, geo: FixedAgent) -> None:
        stub = mesh.router_stub()
        base = time.time() - 3_600  # within the live window: Score takes the first
        logins = [event(n, when=base + n * 60) for n in range(4)]
        scored = await stub.Score(router_pb2.ScoreRequest(event=logins[0]), timeout=5)

        async def feed():
            for n, login in enumerate([*logins, logins[1]]):
                yield router_pb2.ScoreStreamRequest(client_ref=str(n), event=login)

        replies = {r.client_ref: r async for r in stub.ScoreStream(feed())}

        assert replies["0"].repeat
        assert replies["0"].decision.decision_id == scored.decision.decision_id
        assert [replies[str(n)].repeat for n in (1, 2, 3)] == [False] * 3
        assert replies["4"].repeat
        assert replies["4"].decision.decision_id == replies["1"].decision.decision_id
        assert len(await recorded(mesh)) == 4

    on_mesh(tmp_path, body)


def test_a_stream_asks_its_client_to_close_once_its_time_is_up(tmp_path: Path) -> None:
    """The client keeps the stream open and silent: only the router's time limit makes it
    send `closing`; the requests it took are answered all the same."""

    async def body(mesh: Mesh, geo: FixedAgent) -> None:
        base = time.time() - 3_600
        closed = asyncio.Event()

        async def feed():
            for n in range(3):
                yield router_pb2.ScoreStreamRequest(
                    client_ref=str(n), event=event(n, when=base + n)
                )
            await closed.wait()

        replies = []

        async def read() -> None:
            async for reply in mesh.router_stub().ScoreStream(feed()):
                replies.append(reply)
                if reply.closing:
                    closed.set()

        # A guard, not a measure: without `closing` the stream would never end.
        await asyncio.wait_for(read(), timeout=60)

        assert sorted(r.client_ref for r in replies if not r.closing) == ["0", "1", "2"]
        assert [r.closing for r in replies].count(True) == 1
        assert all(r.HasField("decision") for r in replies if not r.closing)

    on_mesh(tmp_path, body, replay_stream_max_s=0.5)
