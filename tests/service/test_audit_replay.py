"""Deterministic replay: audited decisions re-run through real agents and the router's own
combination and policy give the same result at the recorded versions, and say what would
change at the current ones."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml

from aegis.v1 import agent_pb2_grpc, audit_pb2, common_pb2, router_pb2
from aegis_domain.convert import seconds_to_timestamp
from agent_services.behavior import make_agent as make_behavior
from agent_services.geo import GeoAgent
from router_service.audit_replay import replay, running_versions
from router_service.policy import load_policy
from router_service.settings import DEFAULT_POLICY
from tests.service.mesh import Mesh, entry, start_mesh

# (user, country, latitude, longitude, minutes after the first login): homes, then travel
# fast enough to be impossible, a new country, a failed login.
LOGINS = [
    ("alice", "NO", 59.91, 10.75, 0), ("alice", "NO", 59.91, 10.75, 30),
    ("alice", "US", 40.71, -74.00, 60), ("alice", "NO", 59.91, 10.75, 95),
    ("bob", "DE", 52.52, 13.40, 5), ("bob", "DE", 52.52, 13.40, 50),
    ("bob", "BR", -23.55, -46.63, 70), ("carol", "FR", 48.85, 2.35, 10),
    ("carol", "JP", 35.68, 139.69, 40), ("carol", "FR", 48.85, 2.35, 41),
]


def login(n: int, user: str, country: str, lat: float, lon: float, at: float
          ) -> common_pb2.LoginEvent:
    return common_pb2.LoginEvent(
        event_id=f"ev-{n}", timestamp=seconds_to_timestamp(at), user_id=user,
        session_id=f"s-{n}", device_id=f"dev-{user}", ip=f"198.51.100.{n}", country=country,
        asn=64500 + n % 3, user_agent="Mozilla/5.0", device_type=common_pb2.DEVICE_TYPE_DESKTOP,
        login_successful=n % 4 != 3, auth_method=common_pb2.AUTH_METHOD_PASSWORD,
        latitude=lat, longitude=lon,
    )


async def _scored_records(mesh: Mesh) -> list[common_pb2.DecisionRecord]:
    """Score the logins one after another (each sees the ones before in its history), then
    read their records back from the audit log."""
    start = time.time() - 3 * 3600
    router, audit = mesh.router_stub(), mesh.audit_stub()
    records = []
    for n, (user, country, lat, lon, minutes) in enumerate(LOGINS):
        event = login(n, user, country, lat, lon, start + 60 * minutes)
        reply = await router.Score(router_pb2.ScoreRequest(event=event), timeout=10)
        found = await audit.GetDecision(
            audit_pb2.GetDecisionRequest(decision_id=reply.decision.decision_id), timeout=5
        )
        records.append(found.record)
    return records


def _agent_stubs(mesh: Mesh) -> dict[str, agent_pb2_grpc.AgentServiceStub]:
    return {name: agent_pb2_grpc.AgentServiceStub(mesh._channel(server.port))
            for name, server in mesh.agents.items()}


def _agents(tmp_path: Path) -> dict:
    return {
        "geo": (entry("geo", required=True), GeoAgent()),
        "behavior": (entry("behavior"), make_behavior(tmp_path / "models")),
        "network": (entry("network"), None),  # down: its UNAVAILABLE is replayed as recorded
    }


def test_replay_at_the_recorded_versions_is_identical(tmp_path: Path) -> None:
    async def scenario():
        mesh = await start_mesh(tmp_path, _agents(tmp_path))
        try:
            records = await _scored_records(mesh)
            scorer = mesh.router.component.scorer
            versions = await running_versions(_agent_stubs(mesh))
            results = [await replay(r, scorer, versions, current=False) for r in records]
            return records, results
        finally:
            await mesh.close()

    records, results = asyncio.run(scenario())
    actions = {r.decision.action for r in records}
    assert len(actions) > 1, "the sample should hold more than one kind of decision"
    assert any(s.status == common_pb2.SIGNAL_STATUS_UNAVAILABLE
               for r in records for s in r.decision.signals)
    for record, result in zip(records, results, strict=True):
        assert result.mismatches == [], result.mismatches
        assert result.identical, (record.decision.decision_id, result.differences)
        assert result.replayed.action == record.decision.action
        assert result.replayed.risk == record.decision.risk


def test_replay_at_the_current_versions_shows_what_would_change(tmp_path: Path) -> None:
    stricter = yaml.safe_load(DEFAULT_POLICY.read_text())
    stricter["version"] = "stricter-1"
    stricter["thresholds"] = {"challenge": 0.0, "block_temporary": 0.0}
    stricter["critical_risk"] = 0.0
    stricter_path = tmp_path / "stricter.yaml"
    stricter_path.write_text(yaml.safe_dump(stricter))

    async def scenario():
        mesh = await start_mesh(tmp_path, _agents(tmp_path))
        try:
            records = await _scored_records(mesh)
            scorer = mesh.router.component.scorer
            scorer.policy = load_policy(stricter_path)
            versions = await running_versions(_agent_stubs(mesh))
            return records, [await replay(r, scorer, versions, current=True) for r in records]
        finally:
            await mesh.close()

    records, results = asyncio.run(scenario())
    for record, result in zip(records, results, strict=True):
        assert ("policy", record.decision.policy_version, "stricter-1") in [
            (m.component, m.recorded, m.current) for m in result.mismatches
        ]
        assert result.replayed.action == common_pb2.ACTION_BLOCK_TEMPORARY
    changed = [r for r in results if not r.identical]
    assert changed and all(
        d.field in ("action", "reasons", "drivers") or d.field.startswith("signals[")
        for r in changed for d in r.differences
    )
    assert any(d.field == "action" and d.replayed == "BLOCK_TEMPORARY"
               for r in changed for d in r.differences)
