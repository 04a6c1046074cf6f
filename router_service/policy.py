"""The policy engine: a versioned YAML policy, validated at start, turned into an action."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aegis_domain.types import HUMAN_ONLY, Action, AgentSignal, Reason, SignalStatus, Velocity
from router_service.combine import Combined

ActionName = Literal[
    "ALLOW", "CHALLENGE", "BLOCK_TEMPORARY", "ESCALATE", "BLOCK_PERMANENT", "ACCOUNT_TERMINATION"
]
VelocityMetric = Literal[
    "user_attempts", "user_failures", "ip_attempts", "ip_failures",
    "ip_distinct_users", "device_distinct_users",
]
_FAILED = (SignalStatus.TIMEOUT, SignalStatus.ERROR, SignalStatus.UNAVAILABLE)
# Reason codes of a degraded decision; replay summaries count decisions by them.
CONTEXT_UNAVAILABLE = "CONTEXT_UNAVAILABLE"
REQUIRED_AGENT_MISSING = "REQUIRED_AGENT_MISSING"


class PolicyError(ValueError):
    """The policy file is unusable; the message names the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Strict):
    challenge: float = Field(ge=0, le=1)
    block_temporary: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.block_temporary < self.challenge:
            raise ValueError("block_temporary must be >= challenge")
        return self


class Budget(_Strict):
    """Thresholds as shares of legitimate logins rather than risks: a shift between the
    calibration world and serving moves every risk, while a share keeps its meaning. The
    combiner file states the risk at each share on its calibration world (see `within`)."""

    challenge: float = Field(gt=0, lt=1, description="legitimate logins challenged at most")
    block_temporary: float = Field(gt=0, lt=1, description="... blocked at most")
    escalate_above: float = Field(gt=0, lt=1, description="only this top share may escalate")

    @model_validator(mode="after")
    def _ordered(self) -> Budget:
        if self.block_temporary > self.challenge:
            raise ValueError("block_temporary must be <= challenge (a share of logins)")
        return self


class RiskTable(Protocol):
    """What turns a budget into risks: the learned combiner's calibration table."""

    def risk_at_share(self, share: float) -> float | None: ...


class AgentAlarm(_Strict):
    risk: float = Field(ge=0, le=1)
    confidence: float = Field(ge=0, le=1)
    action: ActionName
    # Agents whose alarm alone may act; absent: every agent.
    agents: list[str] | None = None


class Escalate(_Strict):
    min_confidence: float = Field(ge=0, le=1)
    max_disagreement: float = Field(ge=0, le=1)
    only_above_risk: float = Field(ge=0, le=1)


class VelocityLimit(_Strict):
    metric: VelocityMetric
    limit: int = Field(gt=0)
    action: ActionName
    # The limit holds only a login whose combined risk is at least this: a count that tips an
    # unusual login into a challenge need not hold an ordinary one (a user's own forgotten
    # password, retried on their own device and network, is no attack on the account).
    only_above_risk: float = Field(0.0, ge=0, le=1)
    # The same as a share of legitimate logins, turned into only_above_risk by the budget's
    # table (see Policy.within): a shift that moves every risk leaves a share its meaning.
    only_above_share: float | None = Field(None, gt=0, lt=1)


class Degraded(_Strict):
    required_agent_missing: ActionName
    context_unavailable: ActionName
    no_signal: ActionName


class PolicySpec(_Strict):
    """The YAML document, field by field."""

    version: str = Field(min_length=1, max_length=64)
    description: str = ""
    thresholds: Thresholds
    budget: Budget | None = None
    critical_risk: float = Field(ge=0, le=1)
    agent_alarm: AgentAlarm
    escalate: Escalate
    velocity: list[VelocityLimit] = Field(default_factory=list)
    degraded: Degraded
    severity: list[ActionName]
    forbidden_actions: list[ActionName] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> PolicySpec:
        forbidden = HUMAN_ONLY | set(self.forbidden_actions)
        used = {
            "agent_alarm.action": self.agent_alarm.action,
            "degraded.required_agent_missing": self.degraded.required_agent_missing,
            "degraded.context_unavailable": self.degraded.context_unavailable,
            "degraded.no_signal": self.degraded.no_signal,
            **{f"velocity[{i}].action": v.action for i, v in enumerate(self.velocity)},
        }
        for where, action in used.items():
            if action in forbidden:
                raise ValueError(f"{where}: {action} is an action the AI may never take")
        expected = {"ALLOW", "CHALLENGE", "ESCALATE", "BLOCK_TEMPORARY"}
        if set(self.severity) != expected or len(self.severity) != len(expected):
            raise ValueError(f"severity must order exactly {sorted(expected)}")
        if self.critical_risk < self.thresholds.block_temporary:
            raise ValueError("critical_risk must be >= thresholds.block_temporary")
        return self


@dataclass(frozen=True, slots=True)
class RiskThresholds:
    """The combined risks at which a policy acts; recorded in each decision for its replay."""

    challenge: float
    block_temporary: float
    critical: float
    escalate_above: float
    # How many recent live decisions they were estimated from; 0: the calibration world's.
    window_decisions: int = 0


@dataclass(frozen=True, slots=True)
class PolicyInputs:
    combined: Combined
    signals: Sequence[AgentSignal]
    velocity: Velocity
    context_available: bool
    required_agents: frozenset[str]


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    reasons: list[Reason]


class Policy:
    """A validated policy; `decide` is a pure function of its inputs."""

    def __init__(self, spec: PolicySpec) -> None:
        self.spec = spec
        self.version = spec.version
        self._rank: dict[str, int] = {name: i for i, name in enumerate(spec.severity)}
        self._forbidden = HUMAN_ONLY | set(spec.forbidden_actions)

    @property
    def thresholds(self) -> RiskThresholds:
        spec = self.spec
        return RiskThresholds(spec.thresholds.challenge, spec.thresholds.block_temporary,
                              spec.critical_risk, spec.escalate.only_above_risk)

    def at(self, thresholds: RiskThresholds) -> Policy:
        """This policy acting at `thresholds` (ordered: challenge <= block <= critical)."""
        spec = self.spec.model_copy(update={
            "thresholds": Thresholds(challenge=thresholds.challenge,
                                     block_temporary=thresholds.block_temporary),
            "critical_risk": thresholds.critical,
            "escalate": self.spec.escalate.model_copy(
                update={"only_above_risk": thresholds.escalate_above}),
        })
        return Policy(spec)

    def within(self, table: RiskTable | None) -> Policy:
        """This policy with its budget and its velocity limits' shares turned into risks by
        `table` (the policy's own risks stay where there is no budget, share or table)."""
        budget = self.spec.budget
        if table is None:
            return self
        policy = self._velocity_within(table)
        if budget is None:
            return policy
        challenge, block, escalate = (table.risk_at_share(share) for share in (
            budget.challenge, budget.block_temporary, budget.escalate_above))
        if challenge is None or block is None or escalate is None:
            return policy
        block = max(block, challenge)
        return policy.at(RiskThresholds(challenge, block, max(self.spec.critical_risk, block),
                                        escalate))

    def _velocity_within(self, table: RiskTable) -> Policy:
        limits = []
        for limit in self.spec.velocity:
            risk = (None if limit.only_above_share is None
                    else table.risk_at_share(limit.only_above_share))
            limits.append(limit if risk is None
                          else limit.model_copy(update={"only_above_risk": risk}))
        return Policy(self.spec.model_copy(update={"velocity": limits}))

    def decide(self, inputs: PolicyInputs) -> Outcome:
        """Every rule that fires adds a reason; the most severe action among them wins."""
        spec = self.spec
        c = inputs.combined
        fired: list[tuple[str, Reason]] = []

        def fire(action: str, code: str, message: str, weight: float = 0.0) -> None:
            fired.append((action, Reason(code=code, message=message, weight=weight)))

        if c.no_signal:
            fire(spec.degraded.no_signal, "NO_SIGNAL", "no agent produced a signal")
        elif c.risk >= spec.critical_risk:
            fire("BLOCK_TEMPORARY", "CRITICAL_RISK",
                 f"risk {c.risk:.3f} >= {spec.critical_risk:.3f}")
        elif c.risk >= spec.thresholds.block_temporary:
            fire("BLOCK_TEMPORARY", "HIGH_RISK",
                 f"risk {c.risk:.3f} >= {spec.thresholds.block_temporary:.3f}")
        elif c.risk >= spec.thresholds.challenge:
            fire("CHALLENGE", "ELEVATED_RISK",
                 f"risk {c.risk:.3f} >= {spec.thresholds.challenge:.3f}")

        if not c.no_signal and c.risk >= spec.escalate.only_above_risk:
            if c.confidence < spec.escalate.min_confidence:
                fire("ESCALATE", "LOW_CONFIDENCE",
                     f"confidence {c.confidence:.3f} < {spec.escalate.min_confidence}")
            if c.disagreement > spec.escalate.max_disagreement:
                fire("ESCALATE", "AGENT_DISAGREEMENT",
                     f"disagreement {c.disagreement:.3f} > {spec.escalate.max_disagreement}")

        alarm = spec.agent_alarm
        for s in inputs.signals:
            if alarm.agents is not None and s.agent not in alarm.agents:
                continue
            if s.present and s.risk >= alarm.risk and s.confidence >= alarm.confidence:
                fire(alarm.action, f"AGENT_ALARM:{s.agent}",
                     f"{s.agent} risk {s.risk:.3f} at confidence {s.confidence:.2f}", s.risk)

        if inputs.context_available:
            for limit in spec.velocity:
                observed = getattr(inputs.velocity, limit.metric)
                if observed >= limit.limit and c.risk >= limit.only_above_risk:
                    fire(limit.action, f"VELOCITY_{limit.metric.upper()}",
                         f"{limit.metric} {observed} >= {limit.limit} in "
                         f"{inputs.velocity.window_seconds} s")
        else:
            fire(spec.degraded.context_unavailable, CONTEXT_UNAVAILABLE,
                 "user history unavailable; velocity limits not checked")

        for s in inputs.signals:
            if s.agent in inputs.required_agents and s.status in _FAILED:
                fire(spec.degraded.required_agent_missing, f"{REQUIRED_AGENT_MISSING}:{s.agent}",
                     f"required agent {s.agent}: {s.status.name}")

        if not fired:
            fire("ALLOW", "LOW_RISK", f"risk {c.risk:.3f} < {spec.thresholds.challenge:.3f}")
        action = max((a for a, _ in fired), key=self._rank.__getitem__)
        if action in self._forbidden:
            # A policy may forbid an action that the risk rules produce (no automatic blocks,
            # say): a human takes that decision instead.
            fired.append(("ESCALATE", Reason("FORBIDDEN_ACTION", f"{action} is forbidden")))
            action = "ESCALATE"
        reasons = [r for _, r in sorted(fired, key=lambda f: -self._rank[f[0]])]
        return Outcome(action=Action[action], reasons=reasons)


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; PolicyError names the file and the problem."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise PolicyError(f"policy {path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy {path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise PolicyError(f"policy {path}: expected a mapping at the top level")
    try:
        return Policy(PolicySpec.model_validate(document))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise PolicyError(f"policy {path}: {problems}") from None
