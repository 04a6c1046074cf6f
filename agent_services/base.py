"""The Agent interface: load once, then assess logins as a pure function."""

from __future__ import annotations

import abc
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aegis_domain.registry import AgentEntry
from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, SignalStatus


@dataclass(frozen=True, slots=True)
class AgentDescription:
    name: str
    model_version: str
    features: list[str] = field(default_factory=list)
    ready: bool = True
    description: str = ""


class Agent(abc.ABC):
    """A risk agent.

    Agents are pure (design invariant 2): `assess` depends only on the event, the context and
    the loaded model, keeps no per-user state, and so replays identically.
    """

    name: str

    def load(self) -> None:  # noqa: B027 - agents without a model have nothing to load
        """Load model artifacts; called once before the host reports SERVING."""

    @abc.abstractmethod
    def assess(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        """Score one login. Must not raise on valid input; the host turns exceptions into
        an ERROR signal."""

    def assess_batch(
        self, requests: Sequence[tuple[LoginEvent, LoginContext]]
    ) -> list[AgentSignal]:
        """One signal per login, in order: the same signals as one `assess` each. Agents whose
        model gains from whole batches (one prediction call) override it."""
        return [self.assess(event, context) for event, context in requests]

    @abc.abstractmethod
    def describe(self) -> AgentDescription: ...

    def drift(self) -> dict[str, float]:
        """Population stability index of each watched quantity (its risk, its main features)
        over the latest logins against the model's training window; empty where the agent
        watches none (no trained reference, or too few logins yet)."""
        return {}

    def no_model(self, detail: str) -> AgentSignal:
        """The signal of an agent whose model is absent: missing, not failed."""
        return AgentSignal(agent=self.name, status=SignalStatus.NO_MODEL, detail=detail)


def build_agent(entry: AgentEntry, model_dir: Path) -> Agent:
    """Import the registry entry's module and build its Agent (the module's `make_agent`)."""
    module = importlib.import_module(entry.module)
    agent: Agent = module.make_agent(model_dir)
    return agent
