"""Through a real router: a shifted stream of risks moves the thresholds from the calibration
world's to the budget's quantiles of recent successful logins (a wave of failed attempts does
not), each decision records the thresholds it used, and a replay at the recorded versions
reproduces every action."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import yaml

from aegis.v1 import agent_pb2_grpc, audit_pb2, common_pb2, router_pb2
from aegis_domain.convert import seconds_to_timestamp
from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, Reason, SignalStatus
from agent_services.base import Agent, AgentDescription
from router_service.audit_replay import replay, running_versions
from router_service.combiner import load_combiner
from router_service.settings import DEFAULT_POLICY
from tests.service.mesh import entry, start_mesh

WINDOW = 40
# The calibration world: 10% of its legitimate logins at risk >= 0.5, 1.25% at >= 0.8.
TABLE = {0.0125: 0.8, 0.1: 0.5, 0.8: 0.1}


class Stated(Agent):
    """Its risk is written in the user id ("u7-0.62"): a pure function of the event."""

    name = "detection"

    def assess(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        risk = float(event.user_id.rsplit("-", 1)[1])
        return AgentSignal(agent=self.name, status=SignalStatus.OK, risk=risk, confidence=0.9,
                           model_version="stated-1",
                           reasons=[Reason("STATED", f"risk {risk} stated by the test", risk)])

    def describe(self) -> AgentDescription:
        return AgentDescription(name=self.name, model_version="stated-1")


def _login(n: int, risk: float, successful: bool) -> common_pb2.LoginEvent:
    # A user, IP and device of its own: no velocity limit fires.
    return common_pb2.LoginEvent(
        event_id=f"ev-{n}", timestamp=seconds_to_timestamp(time.time()), user_id=f"u{n}-{risk}",
        ip=f"198.51.100.{n}", device_id=f"dev-{n}", login_successful=successful,
    )


def test_a_shifted_stream_moves_the_thresholds_and_replays_reproduce_them(
    tmp_path: Path,
) -> None:
    combiner_path = tmp_path / "combiner.json"
    combiner_path.write_text(json.dumps({
        "model_version": "identity", "intercept": 0.0,
        "agents": {"detection": {"bias": 0.0, "weight": 1.0}},
        "risk_at_challenge_share": {str(k): v for k, v in TABLE.items()},
    }))
    combiner = load_combiner(combiner_path)
    assert combiner is not None
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["budget"] = {"challenge": 0.1, "block_temporary": 0.0125, "escalate_above": 0.1}
    # What load_rules makes of this budget with this table.
    policy["thresholds"] = {"challenge": 0.5, "block_temporary": 0.8}
    policy["escalate"]["only_above_risk"] = 0.5
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy))
    # Legitimate logins that score higher than the calibration world's: at its thresholds
    # every one is challenged.
    shifted = [0.6, *np.linspace(0.55, 0.75, WINDOW - 1).round(4), 0.6]
    # A wave of failed attempts amid them (stuffing): never part of the window.
    stream = [(r, True) for r in shifted[:10]] + [(0.99, False)] * 10 + [
        (r, True) for r in shifted[10:]]

    async def scenario():
        mesh = await start_mesh(
            tmp_path, {"detection": (entry("detection"), Stated())}, policy_path=policy_path,
            combiner=combiner, budget_window=WINDOW, budget_min_decisions=WINDOW,
            budget_max_shift=8.0,  # a band wide enough for the window's quantile
        )
        try:
            router, audit = mesh.router_stub(), mesh.audit_stub()
            records = []
            for n, (risk, successful) in enumerate(stream):
                reply = await router.Score(
                    router_pb2.ScoreRequest(event=_login(n, risk, successful)), timeout=10)
                found = await audit.GetDecision(audit_pb2.GetDecisionRequest(
                    decision_id=reply.decision.decision_id), timeout=5)
                records.append(found.record)
            scorer = mesh.router.component.scorer
            stubs = {name: agent_pb2_grpc.AgentServiceStub(mesh._channel(server.port))
                     for name, server in mesh.agents.items()}
            versions = await running_versions(stubs)
            return records, [await replay(r, scorer, versions, current=False) for r in records]
        finally:
            await mesh.close()

    records, results = asyncio.run(scenario())
    first, last = records[0].decision, records[-1].decision
    assert first.risk == last.risk == 0.6
    assert first.thresholds.window_decisions == 0
    assert first.thresholds.challenge == 0.5
    assert first.action == common_pb2.ACTION_CHALLENGE
    assert first.drivers == ["Like past attacks: risk 0.6 stated by the test"]
    # The 90th percentile of the window of successful logins: 10% of them challenged, not all.
    assert last.thresholds.window_decisions == WINDOW
    assert last.thresholds.challenge == np.quantile(shifted[:WINDOW], 0.9)
    assert last.action == common_pb2.ACTION_ALLOW
    assert list(last.drivers) == []
    assert sum(r.decision.action == common_pb2.ACTION_CHALLENGE for r in records) < len(records)
    for record, result in zip(records, results, strict=True):
        assert result.mismatches == []
        assert result.identical, (record.decision.event_id, result.differences)
