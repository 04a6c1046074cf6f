"""What the services count, through real in-process servers: per-agent signals by status,
failed Scores by status, degraded decisions, review overrides, an agent's batches and model
version. Counts are read as the difference a scenario makes (the meter provider is the test
session's)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path

import grpc
import pytest

from aegis.v1 import agent_pb2, agent_pb2_grpc, audit_pb2, common_pb2, router_pb2
from aegis_runtime.logging import JsonFormatter
from aegis_runtime.server import RunningServer
from audit_service import instruments
from audit_service.component import AuditComponent
from audit_service.embedded.store import EmbeddedAuditStore
from audit_service.servicer import AuditServicer
from audit_service.settings import AuditSettings
from tests.conftest import metric_points
from tests.service.mesh import entry, local, start_mesh
from tests.service.test_router import FixedAgent, HangingAgent, event
from tests.unit.audit_builders import T0, make_record


class _PlaintextCaller:
    """The servicer context of a call without a client certificate (the reviewer named in
    the request is recorded)."""

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}


PLAINTEXT_CALLER = _PlaintextCaller()

def total(name: str, **attributes: object) -> float:
    return sum(value for attrs, value in metric_points(name)
               if attributes.items() <= attrs.items())


class Counts:
    """Totals of (metric, attributes) now, and what a scenario added to them."""

    def __init__(self, *wanted: tuple[str, dict[str, object]]) -> None:
        self.wanted = wanted
        self.before = [total(name, **attrs) for name, attrs in wanted]

    def added(self) -> list[float]:
        return [total(name, **attrs) - before
                for (name, attrs), before in zip(self.wanted, self.before, strict=True)]


def test_signals_by_status_degraded_decisions_and_failed_scores(tmp_path: Path) -> None:
    counts = Counts(
        ("aegis.router.scores", {"outcome": "decided"}),
        ("aegis.router.scores", {"outcome": "repeat"}),
        ("aegis.router.scores", {"outcome": "UNAVAILABLE"}),
        ("aegis.router.agent.signals", {"agent": "geo", "status": "OK"}),
        ("aegis.router.agent.signals", {"agent": "slow", "status": "TIMEOUT"}),
        ("aegis.router.agent.signals", {"agent": "down", "status": "UNAVAILABLE"}),
        ("aegis.router.agent.duration", {"agent": "slow", "status": "TIMEOUT"}),
        ("aegis.router.decisions.degraded", {"reason": "slow"}),
        ("aegis.router.score.duration", {}),
        ("aegis.router.batch.size", {"downstream": "record"}),
        ("aegis.agent.logins", {"agent": "geo"}),
    )

    async def scenario() -> None:
        mesh = await start_mesh(
            tmp_path,
            {"geo": (entry("geo"), FixedAgent("geo", 0.05)),
             "slow": (entry("slow", deadline_ms=50), HangingAgent()),
             "down": (entry("down"), None)},
            audit_attempts=2,
        )
        try:
            stub = mesh.router_stub()
            login = router_pb2.ScoreRequest(event=event(1))
            await stub.Score(login, timeout=5)
            await stub.Score(login, timeout=5)  # a repeat
            await mesh.audit.stop(0)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Score(router_pb2.ScoreRequest(event=event(2)), timeout=5)
        finally:
            await mesh.close()

    asyncio.run(scenario())
    # Signals and degradation are a decision's: the repeat asked no agent, and the Score that
    # could not be recorded decided nothing (though its agents were asked, and the audit twice:
    # batch calls count what was sent).
    assert counts.added() == [1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 2]


def test_grpc_calls_are_timed_by_service_method_and_status(tmp_path: Path) -> None:
    served, made = "rpc.server.duration", "rpc.client.duration"
    router, agent, audit = (f"aegis.v1.{name}Service" for name in ("Router", "Agent", "Audit"))
    ok, invalid, unavailable = (code.value[0] for code in (
        grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAVAILABLE))
    counts = Counts(
        (served, {"rpc.service": router, "rpc.method": "Score", "rpc.grpc.status_code": ok}),
        (served, {"rpc.service": router, "rpc.method": "Score",
                  "rpc.grpc.status_code": invalid}),
        (served, {"rpc.service": agent, "rpc.method": "AssessBatch", "rpc.grpc.status_code": ok}),
        (served, {"rpc.service": audit, "rpc.method": "RecordBatch", "rpc.grpc.status_code": ok}),
        (made, {"rpc.service": agent, "rpc.method": "AssessBatch", "rpc.grpc.status_code": ok}),
        (made, {"rpc.service": agent, "rpc.method": "AssessBatch",
                "rpc.grpc.status_code": unavailable}),
        (made, {"rpc.service": audit, "rpc.method": "RecordBatch", "rpc.grpc.status_code": ok}),
    )

    async def scenario() -> None:
        mesh = await start_mesh(
            tmp_path, {"geo": (entry("geo"), FixedAgent("geo", 0.05)),
                       "down": (entry("down"), None)})
        try:
            stub = mesh.router_stub()
            await stub.Score(router_pb2.ScoreRequest(event=event(1)), timeout=5)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Score(router_pb2.ScoreRequest(), timeout=5)
        finally:
            await mesh.close()

    asyncio.run(scenario())
    # The invalid Score asked nobody; the down agent's call failed at the router's end.
    assert counts.added() == [1, 1, 1, 1, 1, 1, 1]


def test_a_slow_call_is_logged_with_its_trace_id() -> None:
    from agent_services.host import AgentComponent

    lines: list[dict] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(json.loads(JsonFormatter("agent").format(record)))
    logger = logging.getLogger("aegis_runtime.grpc_metrics")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)

    async def scenario() -> None:
        # Every call is slower than a microsecond.
        server = RunningServer(AgentComponent(FixedAgent("geo", 0.05)), local(slow_call_ms=0.001))
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                await agent_pb2_grpc.AgentServiceStub(channel).Assess(
                    agent_pb2.AssessRequest(event=event(1)), timeout=5)
        finally:
            await server.stop(0.5)

    try:
        asyncio.run(scenario())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    slow = [line for line in lines if line["msg"] == "slow rpc"]
    assert [line["method"] for line in slow] == ["/aegis.v1.AgentService/Assess"]
    assert slow[0]["status"] == grpc.StatusCode.OK.value[0]
    assert re.fullmatch("[0-9a-f]{32}", slow[0]["trace_id"])


def test_reviews_are_counted_by_outcome_and_override_once_each(tmp_path: Path) -> None:
    counts = Counts(
        ("aegis.audit.reviews", {"outcome": "APPROVE", "override": "true"}),
        ("aegis.audit.reviews", {"outcome": "REJECT", "override": "false"}),
        ("aegis.audit.reviews", {}),
    )

    async def scenario() -> None:
        store = EmbeddedAuditStore(AuditSettings(data_dir=tmp_path, writer_id="metrics"))
        await store.start()
        servicer = AuditServicer(store)
        try:
            await store.record(make_record("e-0", ts=T0, action=common_pb2.ACTION_ESCALATE))
            await store.record(make_record("b-0", ts=T0 + 1,
                                           action=common_pb2.ACTION_BLOCK_TEMPORARY))
            reason = "called the customer, who confirmed the login"
            approve = audit_pb2.DecideReviewRequest(
                decision_id="e-0", outcome=common_pb2.REVIEW_OUTCOME_APPROVE, reviewer="ana",
                reason=reason, review_id="r-0")
            # The AI escalated and the reviewer allowed: an override; sent twice, counted once.
            await servicer.DecideReview(approve, PLAINTEXT_CALLER)
            await servicer.DecideReview(approve, PLAINTEXT_CALLER)
            # The AI blocked and the reviewer refused too: no override.
            await servicer.DecideReview(audit_pb2.DecideReviewRequest(
                decision_id="b-0", outcome=common_pb2.REVIEW_OUTCOME_REJECT, reviewer="ana",
                reason=reason), PLAINTEXT_CALLER)
        finally:
            await store.close()

    asyncio.run(scenario())
    assert counts.added() == [1, 1, 2]


def test_the_review_queue_gauges_follow_the_store(tmp_path: Path) -> None:
    settings = AuditSettings(data_dir=tmp_path, writer_id="queue")

    def gauges() -> tuple[float, float]:
        return (metric_points("aegis.audit.reviews.pending")[0][1],
                metric_points("aegis.audit.reviews.oldest_pending_age")[0][1])

    async def scenario() -> list[tuple[float, float]]:
        store = EmbeddedAuditStore(settings)
        await store.start()
        for i in range(3):
            await store.record(make_record(f"e-{i}", ts=T0 + i, action=common_pb2.ACTION_ESCALATE))
        await store.record(make_record("a-0", ts=T0 - 1, action=common_pb2.ACTION_ALLOW))
        await store.close()
        # The component reads the queue as it starts, before SERVING.
        component = AuditComponent(settings)
        await component.start()
        try:
            seen = [gauges()]
            await component.servicer.DecideReview(audit_pb2.DecideReviewRequest(
                decision_id="e-0", outcome=common_pb2.REVIEW_OUTCOME_APPROVE, reviewer="ana",
                reason="called the customer, who confirmed the login"), PLAINTEXT_CALLER)
            await instruments.read_review_queue(component.store)
            return [*seen, gauges()]
        finally:
            await component.close()

    started = time.time()
    (pending, age), (left, later_age) = asyncio.run(scenario())
    assert (pending, left) == (3, 2)
    # The oldest waits since T0, then (e-0 reviewed) since T0 + 1.
    assert started - T0 <= age <= time.time() - T0
    assert started - T0 - 1 <= later_age <= time.time() - T0 - 1


def test_an_agent_reports_its_model_version() -> None:
    from agent_services.geo import make_agent
    from agent_services.host import AgentServicer

    agent = make_agent(Path("no-models"))
    AgentServicer(agent)
    versions = [attrs["model_version"] for attrs, _ in metric_points("aegis.agent.model.info")
                if attrs["agent"] == "geo"]
    assert agent.describe().model_version in versions
