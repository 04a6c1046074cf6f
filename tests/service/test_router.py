"""The router through real gRPC servers: fan-out, deadlines, degradation, audit, tracing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from aegis.v1 import agent_pb2, agent_pb2_grpc, audit_pb2, common_pb2, router_pb2
from aegis_domain.convert import seconds_to_timestamp
from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, Reason, SignalStatus
from agent_services.base import Agent, AgentDescription
from router_service.component import RouterComponent
from tests.service.mesh import entry, start_mesh

REPO_ROOT = Path(__file__).resolve().parents[2]


class FixedAgent(Agent):
    """Answers a fixed risk; remembers the history length it was shown."""

    def __init__(self, name: str, risk: float, confidence: float = 0.9) -> None:
        self.name = name
        self.risk = risk
        self.confidence = confidence
        self.history_seen: list[int] = []

    def assess(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        self.history_seen.append(len(context.history))
        return AgentSignal(
            agent=self.name, status=SignalStatus.OK, risk=self.risk,
            confidence=self.confidence, model_version="fixed-1",
            reasons=[Reason(code="FIXED", message=f"always {self.risk}", weight=self.risk)],
        )

    def describe(self) -> AgentDescription:
        return AgentDescription(name=self.name, model_version="fixed-1")


class HangingAgent(agent_pb2_grpc.AgentServiceServicer):
    """Never answers: only the router's deadline ends the call."""

    async def AssessBatch(self, request, context):
        await asyncio.Event().wait()


def event(n: int = 1, user: str = "alice", when: float | None = None) -> common_pb2.LoginEvent:
    return common_pb2.LoginEvent(
        event_id=f"ev-{user}-{n}",
        timestamp=seconds_to_timestamp(when if when is not None else time.time()),
        user_id=user,
        ip="81.167.144.58",
        country="NO",
        asn=29695,
        device_id="device-1",
        user_agent="Mozilla/5.0",
        device_type=common_pb2.DEVICE_TYPE_MOBILE,
        login_successful=True,
    )


def run(coro):
    return asyncio.run(coro)


def test_score_fans_out_and_audits_before_replying(tmp_path: Path) -> None:
    async def scenario() -> None:
        low = FixedAgent("geo", 0.05)
        mesh = await start_mesh(
            tmp_path,
            {"geo": (entry("geo", required=True), low),
             "behavior": (entry("behavior"), FixedAgent("behavior", 0.1))},
        )
        try:
            reply = await mesh.router_stub().Score(router_pb2.ScoreRequest(event=event()),
                                                   timeout=5)
            decision = reply.decision
            assert decision.action == common_pb2.ACTION_ALLOW
            assert {s.agent for s in decision.signals} == {"geo", "behavior"}
            assert all(s.status == common_pb2.SIGNAL_STATUS_OK for s in decision.signals)
            assert decision.reasons and decision.policy_version
            assert decision.model_versions == {"geo": "fixed-1", "behavior": "fixed-1"}
            assert decision.audit_ref
            stored = await mesh.audit_stub().GetDecision(
                audit_pb2.GetDecisionRequest(decision_id=decision.decision_id), timeout=5
            )
            assert stored.record.decision.action == decision.action
            assert stored.record.event.event_id == "ev-alice-1"
        finally:
            await mesh.close()

    run(scenario())


def test_high_risk_is_blocked_with_agent_reasons(tmp_path: Path) -> None:
    async def scenario() -> None:
        mesh = await start_mesh(
            tmp_path,
            {"geo": (entry("geo"), FixedAgent("geo", 0.9)),
             "behavior": (entry("behavior"), FixedAgent("behavior", 0.88))},
        )
        try:
            reply = await mesh.router_stub().Score(router_pb2.ScoreRequest(event=event()),
                                                   timeout=5)
            assert reply.decision.action == common_pb2.ACTION_BLOCK_TEMPORARY
            codes = [r.code for r in reply.decision.reasons]
            assert "HIGH_RISK" in codes
            assert "geo:FIXED" in codes and "behavior:FIXED" in codes
        finally:
            await mesh.close()

    run(scenario())


def test_slow_and_down_agents_are_recorded_and_the_deadline_holds(tmp_path: Path) -> None:
    async def scenario() -> None:
        mesh = await start_mesh(
            tmp_path,
            {
                "geo": (entry("geo"), FixedAgent("geo", 0.05)),
                # Its own deadline is far beyond the caller's: the caller's must win.
                "slow": (entry("slow", deadline_ms=10_000, required=True), HangingAgent()),
                "down": (entry("down"), None),
            },
            audit_reserve_ms=100,
        )
        try:
            started = time.monotonic()
            # A DEADLINE_EXCEEDED here would mean the router waited on the hanging agent.
            reply = await mesh.router_stub().Score(
                router_pb2.ScoreRequest(event=event()), timeout=0.6
            )
            assert time.monotonic() - started < 0.6
            statuses = {s.agent: s.status for s in reply.decision.signals}
            assert statuses == {
                "geo": common_pb2.SIGNAL_STATUS_OK,
                "slow": common_pb2.SIGNAL_STATUS_TIMEOUT,
                "down": common_pb2.SIGNAL_STATUS_UNAVAILABLE,
            }
            assert set(reply.decision.degraded_agents) == {"slow", "down"}
            codes = [r.code for r in reply.decision.reasons]
            assert "REQUIRED_AGENT_MISSING:slow" in codes
            assert reply.decision.action == common_pb2.ACTION_CHALLENGE
        finally:
            await mesh.close()

    run(scenario())


def test_agents_are_connected_before_serving(tmp_path: Path) -> None:
    """The first Scores must not pay the agents' connection set-ups inside their deadlines;
    a down agent does not keep the router from serving."""
    async def scenario() -> None:
        mesh = await start_mesh(tmp_path, {
            "geo": (entry("geo"), FixedAgent("geo", 0.05)),
            "down": (entry("down"), None),
        })
        try:
            component = mesh.router.component
            assert isinstance(component, RouterComponent)
            channels = component.agent_channels
            assert channels["geo"].get_state() == grpc.ChannelConnectivity.READY
            assert channels["down"].get_state() != grpc.ChannelConnectivity.READY
        finally:
            await mesh.close()

    run(scenario())


def test_audit_down_means_unavailable_never_an_unaudited_allow(tmp_path: Path) -> None:
    async def scenario() -> None:
        mesh = await start_mesh(
            tmp_path, {"geo": (entry("geo"), FixedAgent("geo", 0.01))}, audit_attempts=2
        )
        try:
            stub = mesh.router_stub()
            await stub.Score(router_pb2.ScoreRequest(event=event(1)), timeout=5)
            await mesh.audit.stop(0)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Score(router_pb2.ScoreRequest(event=event(2)), timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "not audited" in caught.value.details()
        finally:
            await mesh.close()

    run(scenario())


def test_invalid_event_names_the_field(tmp_path: Path) -> None:
    async def scenario() -> None:
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), FixedAgent("geo", 0.01))})
        try:
            bad = event()
            bad.ip = "300.1.2.3"
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await mesh.router_stub().Score(router_pb2.ScoreRequest(event=bad), timeout=5)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert caught.value.details().startswith("event.ip:")
            stale = event(when=time.time() - 10 * 86_400)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await mesh.router_stub().Score(router_pb2.ScoreRequest(event=stale), timeout=5)
            assert caught.value.details().startswith("event.timestamp:")
        finally:
            await mesh.close()

    run(scenario())


def test_stream_keeps_each_users_order_and_reports_bad_rows(tmp_path: Path) -> None:
    async def scenario() -> None:
        geo = FixedAgent("geo", 0.01)
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), geo)}, replay_concurrency=8)
        try:
            base = time.time() - 30 * 86_400  # replays accept historical timestamps
            requests = [
                router_pb2.ScoreStreamRequest(
                    client_ref=str(i), event=event(i, user="u1" if i % 2 else "u2",
                                                   when=base + i * 60)
                )
                for i in range(12)
            ]
            broken = event(99, when=base)
            broken.user_id = ""
            requests.append(router_pb2.ScoreStreamRequest(client_ref="bad", event=broken))

            async def feed():
                for r in requests:
                    yield r

            replies = {r.client_ref: r async for r in mesh.router_stub().ScoreStream(feed())}
            assert len(replies) == 13
            assert replies["bad"].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
            assert replies["bad"].error.field == "event.user_id"
            audit = mesh.audit_stub()
            for i in range(12):
                decision = replies[str(i)].decision
                stored = await audit.GetDecision(
                    audit_pb2.GetDecisionRequest(decision_id=decision.decision_id), timeout=5
                )
                # Each user's n-th login saw the n-1 before it.
                assert len(stored.record.context.past_logins.timestamp) == i // 2
        finally:
            await mesh.close()

    run(scenario())


def test_packed_requests_get_every_reply_packed_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        geo = FixedAgent("geo", 0.01)
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), geo)}, replay_concurrency=8)
        try:
            base = time.time() - 30 * 86_400
            items = [
                router_pb2.ScoreStreamRequest(
                    client_ref=str(i), event=event(i, user=f"u{i % 3}", when=base + i * 60)
                )
                for i in range(10)
            ]
            broken = event(99, when=base)
            broken.user_id = ""
            items.append(router_pb2.ScoreStreamRequest(client_ref="bad", event=broken))

            async def feed():
                yield router_pb2.ScoreStreamRequest(items=items[:4])
                yield router_pb2.ScoreStreamRequest(items=items[4:])

            messages = [m async for m in mesh.router_stub().ScoreStream(feed())]
            assert all(m.items and not m.client_ref for m in messages)
            replies = [item for m in messages for item in m.items]
            assert sorted(r.client_ref for r in replies) == sorted(i.client_ref for i in items)
            by_ref = {r.client_ref: r for r in replies}
            assert by_ref["bad"].error.field == "event.user_id"
            assert all(by_ref[str(i)].decision.decision_id for i in range(10))
        finally:
            await mesh.close()

    run(scenario())


def test_one_score_is_one_trace_across_router_agents_and_audit(tmp_path: Path, spans) -> None:
    async def scenario() -> str:
        mesh = await start_mesh(
            tmp_path,
            {"geo": (entry("geo"), FixedAgent("geo", 0.01)),
             "behavior": (entry("behavior"), FixedAgent("behavior", 0.01))},
        )
        try:
            reply = await mesh.router_stub().Score(router_pb2.ScoreRequest(event=event()),
                                                   timeout=5)
            stored = await mesh.audit_stub().GetDecision(
                audit_pb2.GetDecisionRequest(decision_id=reply.decision.decision_id), timeout=5
            )
            assert stored.record.decision.trace_id == reply.decision.trace_id
            return reply.decision.trace_id
        finally:
            await mesh.close()

    trace_id = run(scenario())
    assert len(trace_id) == 32
    in_trace = {
        s.name for s in spans.get_finished_spans()
        if format(s.context.trace_id, "032x") == trace_id
    }
    for method in (
        "/aegis.v1.RouterService/Score",
        "/aegis.v1.AuditService/GetContextBatch",
        "/aegis.v1.AgentService/AssessBatch",
        "/aegis.v1.AuditService/RecordBatch",
    ):
        assert method in in_trace, f"{method} missing from trace {trace_id}: {sorted(in_trace)}"


def test_bad_policy_refuses_to_start_naming_the_problem(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: '1'\nthresholds: {challenge: 0.9, block_temporary: 0.2}\n")
    result = subprocess.run(
        [sys.executable, "-m", "router_service"],
        env={**os.environ, "AEGIS_ROUTER_POLICY_PATH": str(policy), "AEGIS_ROUTER_PORT": "0"},
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
    )
    assert result.returncode != 0
    assert "refusing to start" in result.stderr
    assert "block_temporary must be >= challenge" in result.stderr
    assert str(policy) in result.stderr


@pytest.mark.parametrize(
    ("status", "risk", "problem"),
    [(common_pb2.SIGNAL_STATUS_OK, 7.0, "outside [0, 1]"), (99, 0.5, "unknown status 99"),
     (common_pb2.SIGNAL_STATUS_UNSPECIFIED, 0.5, "unknown status 0")],
)
def test_agent_answering_out_of_range_is_an_error(
    tmp_path: Path, status: int, risk: float, problem: str
) -> None:
    class Broken(agent_pb2_grpc.AgentServiceServicer):
        async def AssessBatch(self, request, context):
            return agent_pb2.AssessBatchResponse(signals=[
                common_pb2.AgentSignal(agent="x", status=status, risk=risk, confidence=0.5)
                for _ in request.items
            ])

    async def scenario() -> None:
        mesh = await start_mesh(
            tmp_path,
            {"geo": (entry("geo"), FixedAgent("geo", 0.01)), "broken": (entry("broken"), Broken())},
        )
        try:
            reply = await mesh.router_stub().Score(router_pb2.ScoreRequest(event=event()),
                                                   timeout=5)
            broken = next(s for s in reply.decision.signals if s.agent == "broken")
            assert broken.status == common_pb2.SIGNAL_STATUS_ERROR
            assert problem in broken.detail
        finally:
            await mesh.close()

    run(scenario())


class FirstCallGated(agent_pb2_grpc.AgentServiceServicer):
    """Holds its first AssessBatch until released; answers every login with risk 0.01 and
    remembers each call's batch size."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.batch_sizes: list[int] = []

    async def AssessBatch(self, request, context):
        self.batch_sizes.append(len(request.items))
        if len(self.batch_sizes) == 1:
            self.entered.set()
            await self.release.wait()
        return agent_pb2.AssessBatchResponse(signals=[
            common_pb2.AgentSignal(agent="gated", status=common_pb2.SIGNAL_STATUS_OK,
                                   risk=0.01, confidence=0.9)
            for _ in request.items
        ])


def test_concurrent_scores_share_batch_calls_and_every_decision_is_audited(
    tmp_path: Path,
) -> None:
    gated = FirstCallGated()
    concurrent = 12

    async def scenario():
        mesh = await start_mesh(
            tmp_path,
            {"gated": (entry("gated"), gated), "geo": (entry("geo"), FixedAgent("geo", 0.01))},
            batch_max_in_flight=1,
        )
        try:
            router = mesh.router_stub()
            scores = [
                asyncio.ensure_future(router.Score(
                    router_pb2.ScoreRequest(event=event(n, user=f"user-{n}")), timeout=10
                ))
                for n in range(concurrent)
            ]
            await gated.entered.wait()
            (gated_client, _) = mesh.router.component.scorer.agents
            while gated_client.batcher.queued < concurrent - 1:
                await asyncio.sleep(0.001)
            gated.release.set()
            replies = await asyncio.gather(*scores)
            audit = mesh.audit_stub()
            stored = [
                await audit.GetDecision(
                    audit_pb2.GetDecisionRequest(decision_id=r.decision.decision_id), timeout=5
                )
                for r in replies
            ]
            return replies, stored
        finally:
            await mesh.close()

    replies, stored = run(scenario())
    assert gated.batch_sizes == [1, concurrent - 1]
    sizes = sorted(
        next(s.batch_size for s in r.decision.signals if s.agent == "gated") for r in replies
    )
    assert sizes == [1] + [concurrent - 1] * (concurrent - 1)
    assert all(r.decision.action == common_pb2.ACTION_ALLOW for r in replies)
    assert [s.audit_ref for s in stored] == [r.decision.audit_ref for r in replies]
    # The held-back Scores reached the audit together too.
    assert max(r.timing.audit_batch_size for r in replies) > 1
    assert all(r.timing.context_batch_size >= 1 for r in replies)


class MetadataRecorder(agent_pb2_grpc.AgentServiceServicer):
    """Answers risk 0.01 and remembers the metadata of every AssessBatch call."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    async def AssessBatch(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        return agent_pb2.AssessBatchResponse(signals=[
            common_pb2.AgentSignal(agent="rec", status=common_pb2.SIGNAL_STATUS_OK,
                                   risk=0.01, confidence=0.9)
            for _ in request.items
        ])


def test_batch_calls_carry_the_callers_request_id_and_trace(tmp_path: Path) -> None:
    recorder = MetadataRecorder()

    async def scenario():
        mesh = await start_mesh(tmp_path, {"rec": (entry("rec"), recorder)})
        try:
            return await mesh.router_stub().Score(
                router_pb2.ScoreRequest(event=event()), timeout=5,
                metadata=(("x-request-id", "req-42"),),
            )
        finally:
            await mesh.close()

    reply = run(scenario())
    (metadata,) = recorder.metadata
    assert metadata["x-request-id"] == "req-42"
    # W3C traceparent: version-traceid-spanid-flags, in the decision's trace.
    assert metadata["traceparent"].split("-")[1] == reply.decision.trace_id
