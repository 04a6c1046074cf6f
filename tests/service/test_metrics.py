"""What the services count, through real in-process servers: per-agent signals by status,
failed Scores by status, degraded decisions, review overrides, an agent's batches and model
version. Counts are read as the difference a scenario makes (the meter provider is the test
session's)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from aegis.v1 import audit_pb2, common_pb2, router_pb2
from audit_service.embedded.store import EmbeddedAuditStore
from audit_service.servicer import AuditServicer
from audit_service.settings import AuditSettings
from tests.conftest import metric_points
from tests.service.mesh import entry, start_mesh
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
        ("aegis.router.batch.items", {"downstream": "record"}),
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


def test_an_agent_reports_its_model_version() -> None:
    from agent_services.geo import make_agent
    from agent_services.host import AgentServicer

    agent = make_agent(Path("no-models"))
    AgentServicer(agent)
    versions = [attrs["model_version"] for attrs, _ in metric_points("aegis.agent.model.info")
                if attrs["agent"] == "geo"]
    assert agent.describe().model_version in versions
