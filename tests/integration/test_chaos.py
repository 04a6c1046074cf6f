"""Chaos under open-loop load on the local cluster: kill -9 the audit service and an agent,
SIGSTOP another, bring them back; every acknowledged decision is in the log exactly once
with its action, no ALLOW goes out without an audit reference, no reply after its deadline."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from aegis.v1 import audit_pb2, audit_pb2_grpc, common_pb2, router_pb2, router_pb2_grpc
from aegis_domain.convert import seconds_to_timestamp
from aegis_mesh.cluster import ClusterPaths, LocalCluster, ServiceSpec, cluster_stages

pytestmark = pytest.mark.integration

RATE_PER_S = 20  # Scores a second, sent on schedule whether or not earlier ones answered
DEADLINE_S = 1.0
# The agent killed with -9 and the one stopped (SIGSTOP), then continued.
KILLED, STOPPED = "geo", "behavior"


@dataclass
class Sent:
    """One Score: when it went out, and what came back when."""

    event: common_pb2.LoginEvent
    sent_at: float
    code: grpc.StatusCode | None = None
    reply: router_pb2.ScoreResponse | None = None
    answered_at: float = 0.0


def login(n: int) -> common_pb2.LoginEvent:
    return common_pb2.LoginEvent(
        event_id=f"chaos-{n}", timestamp=seconds_to_timestamp(time.time()),
        user_id=f"chaos-user-{n}", ip="81.167.144.58", country="NO", asn=29695,
        device_id=f"device-{n}", user_agent="Mozilla/5.0",
        device_type=common_pb2.DEVICE_TYPE_MOBILE, login_successful=True,
    )


async def score(stub: router_pb2_grpc.RouterServiceStub, sent: Sent) -> None:
    try:
        sent.reply = await stub.Score(router_pb2.ScoreRequest(event=sent.event),
                                      timeout=DEADLINE_S)
        sent.code = grpc.StatusCode.OK
    except grpc.aio.AioRpcError as error:
        sent.code = error.code()
    sent.answered_at = time.monotonic()


async def open_loop_load(
    stub: router_pb2_grpc.RouterServiceStub, chaos: Awaitable[None], tail_s: float
) -> list[Sent]:
    """Sends RATE_PER_S Scores a second while `chaos` runs, and `tail_s` seconds after."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent: list[Sent] = []
    calls: list[asyncio.Task[None]] = []
    chaos_done = asyncio.ensure_future(chaos)
    end = float("inf")
    n = 0
    while (now := loop.time()) < end:
        if chaos_done.done() and end == float("inf"):
            chaos_done.result()  # a failed step fails the test here
            end = now + tail_s
        due = start + n / RATE_PER_S
        if due > now:
            await asyncio.sleep(due - now)  # the schedule, not a wait for anything
        sent.append(Sent(login(n), time.monotonic()))
        calls.append(asyncio.create_task(score(stub, sent[-1])))
        n += 1
    await asyncio.gather(*calls)
    return sent


def test_acknowledged_decisions_survive_kills_and_stops(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path / "state")
    # One process per agent, as on ECS: each is killed or stopped on its own.
    cluster = LocalCluster(cluster_stages(paths, hosts="none"), paths, say=lambda line: None)
    specs = {spec.name: spec for spec in cluster.services}

    def pid(name: str) -> int:
        found = cluster.pid_of(specs[name])
        assert found is not None, f"{name} is not running"
        return found

    def signal_to(name: str, sig: signal.Signals) -> None:
        os.kill(pid(name), sig)

    async def chaos() -> None:
        # One step after another, each while the load goes on: a restart (cluster.up)
        # returns once everything is SERVING again, so no step races another.
        await asyncio.sleep(3.0)
        signal_to("audit", signal.SIGKILL)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(cluster.up, 60.0)
        await asyncio.sleep(1.0)
        signal_to(KILLED, signal.SIGKILL)
        signal_to(STOPPED, signal.SIGSTOP)
        await asyncio.sleep(2.0)
        signal_to(STOPPED, signal.SIGCONT)
        await asyncio.to_thread(cluster.up, 60.0)

    cluster.up(timeout_s=120.0)
    try:
        sent = asyncio.run(_load_and_read_back(specs["router"], specs["audit"], chaos()))
    finally:
        for name in specs:
            # A stopped process cannot take the SIGTERM that `down` sends.
            if cluster.pid_of(specs[name]) is not None:
                os.kill(pid(name), signal.SIGCONT)
        cluster.down()
    _check(*sent)


async def _load_and_read_back(
    router: ServiceSpec, audit: ServiceSpec,
    chaos: Awaitable[None],
) -> tuple[list[Sent], dict[str, list[audit_pb2.DecisionSummary]]]:
    async with grpc.aio.insecure_channel(router.address) as channel:
        sent = await open_loop_load(router_pb2_grpc.RouterServiceStub(channel), chaos, 2.0)
    logged: dict[str, list[audit_pb2.DecisionSummary]] = {}
    async with grpc.aio.insecure_channel(audit.address) as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)
        for s in sent:
            if s.code == grpc.StatusCode.OK:
                page = await stub.ListDecisions(
                    audit_pb2.ListDecisionsRequest(user_id=s.event.user_id), timeout=10
                )
                logged[s.event.event_id] = list(page.decisions)
        verified = await stub.Verify(audit_pb2.VerifyRequest(), timeout=60)
    assert verified.ok, verified.problems
    return sent, logged


def _check(sent: list[Sent], logged: dict[str, list[audit_pb2.DecisionSummary]]) -> None:
    acknowledged = [s for s in sent if s.code == grpc.StatusCode.OK]
    codes = {s.code for s in sent}
    # Under the chaos some Scores fail, honestly: no audit, no decision.
    assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE,
                     grpc.StatusCode.DEADLINE_EXCEEDED}, codes
    assert len(acknowledged) > len(sent) // 2, codes
    late = [s.event.event_id for s in acknowledged if s.answered_at - s.sent_at > DEADLINE_S]
    assert late == []
    for s in acknowledged:
        assert s.reply is not None
        decision = s.reply.decision
        assert decision.audit_ref, f"{s.event.event_id}: acknowledged without an audit ref"
        (entry,) = logged[s.event.event_id]  # exactly once
        assert (entry.decision_id, entry.action) == (decision.decision_id, decision.action)
    # The chaos took effect: Scores failed while the audit was down, and decisions went on
    # without the killed and the stopped agent.
    assert len(acknowledged) < len(sent)
    degraded = {a for s in acknowledged if s.reply for a in s.reply.decision.degraded_agents}
    assert {KILLED, STOPPED} <= degraded
    # Once everything is back, Scores succeed again.
    assert all(s.code == grpc.StatusCode.OK for s in sent[-RATE_PER_S:])
