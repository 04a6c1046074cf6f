"""The router with a learned combiner: the decision's risk is the combiner's, and says so."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from aegis.v1 import common_pb2, router_pb2
from aegis_domain.convert import seconds_to_timestamp
from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, SignalStatus
from agent_services.base import Agent, AgentDescription
from router_service.combiner import load_combiner
from tests.service.mesh import entry, start_mesh


class Fixed(Agent):
    def __init__(self, name: str, risk: float) -> None:
        self.name, self.risk = name, risk

    def assess(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        return AgentSignal(agent=self.name, status=SignalStatus.OK, risk=self.risk,
                           confidence=0.9, model_version="fixed-1")

    def describe(self) -> AgentDescription:
        return AgentDescription(name=self.name, model_version="fixed-1")


def test_the_decision_risk_is_the_combiners_and_names_its_version(tmp_path: Path) -> None:
    path = tmp_path / "combiner.json"
    path.write_text(json.dumps({"model_version": "stacker-t", "intercept": -3.0, "agents": {
        "detection": {"bias": 0.5, "weight": 1.2}, "geo": {"bias": 0.1, "weight": 0.3}}}))
    combiner = load_combiner(path)
    assert combiner is not None
    signals = [Fixed("detection", 0.7), Fixed("geo", 0.2)]

    async def scenario() -> common_pb2.Decision:
        mesh = await start_mesh(
            tmp_path, {a.name: (entry(a.name), a) for a in signals}, combiner=combiner
        )
        try:
            event = common_pb2.LoginEvent(
                event_id="ev-1", timestamp=seconds_to_timestamp(time.time()), user_id="alice",
                ip="192.0.2.1", login_successful=True,
            )
            reply = await mesh.router_stub().Score(router_pb2.ScoreRequest(event=event))
            return reply.decision
        finally:
            await mesh.close()

    decision = asyncio.run(scenario())

    expected = combiner.risk([a.assess(LoginEvent("e", 0.0, "u", "ip"), LoginContext())
                             for a in signals])
    assert decision.risk == expected
    # The log-odds pool of 0.7 and 0.2 would be near 0.45; the combiner says otherwise.
    assert abs(decision.risk - 0.45) > 0.1
    assert decision.model_versions["combiner"] == combiner.version
