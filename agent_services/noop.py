"""A no-op agent: answers at once with a neutral signal. The benchmarks' floor mesh is made of
these, and a fifth one measures what one more agent costs."""

from __future__ import annotations

from pathlib import Path

from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, SignalStatus
from agent_services.base import Agent, AgentDescription


class NoopAgent(Agent):
    name = "noop"

    def assess(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        return AgentSignal(
            agent=self.name, status=SignalStatus.OK, risk=0.01, confidence=1.0,
            model_version="noop-1",
        )

    def describe(self) -> AgentDescription:
        return AgentDescription(
            name=self.name, model_version="noop-1", description="answers at once; for benchmarks"
        )


def make_agent(model_dir: Path) -> Agent:
    return NoopAgent()
