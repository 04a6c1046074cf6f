"""Every figure of the evaluation, measured from the decisions the cluster made.

The operating points are challenge budgets on legitimate logins: "recall at 1%" is the share
of attack attempts whose risk is above the threshold that flags 1% of legitimate logins.
Beside the mesh's own risk, each agent alone and other combinations are scored from the
per-agent signals recorded in the same decisions (ablation), never from a separate run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aegis.v1 import common_pb2 as pb
from aegis_domain.types import AgentSignal, SignalStatus
from aegis_lab.evaluation.collect import Collected
from aegis_lab.training.metrics import (
    Curve,
    Reliability,
    Summary,
    flagged_share,
    pr_curve,
    reliability,
    roc_curve,
    summarize,
    threshold_at_fpr,
)
from router_service.combine import Combiner, combine

MESH = "mesh"
# The detection issue's bar (issue 13, point 6) at the 1% and 0.1% challenge budgets.
TARGET_RECALL = 0.97
TARGET_RECALL_PER_ATTACK = 0.90
TARGET_RECALL_AT_0_1PCT = 0.85
TARGET_ECE = 0.05
# Legitimate logins the default policy does not allow: overall, and in each hard case.
TARGET_NOT_ALLOWED = 0.01
TARGET_NOT_ALLOWED_HARD_CASE = 0.05
BASELINE = "behavior"  # Freeman et al.: the user's own history, nothing else
NOVELTY = "novelty baseline"
# The margin: a mesh within noise of counting new attributes has not earned its parts.
NOVELTY_MARGIN = 0.02


@dataclass(slots=True)
class Scored:
    """One way of scoring the logins, measured against the truth."""

    name: str
    description: str
    summary: Summary
    coverage: float  # share of logins the score had a real opinion on
    recall_by_attack: dict[str, float]
    flagged_by_hard_case: dict[str, float]
    roc: Curve
    pr: Curve

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description, **self.summary.to_json(), "coverage": self.coverage,
            "recall_at_1pct_by_attack": self.recall_by_attack,
            "challenged_at_1pct_by_hard_case": self.flagged_by_hard_case,
        }


@dataclass(slots=True)
class Analysis:
    logins: int
    measured: int
    attacks: int
    scores: dict[str, Scored]
    reliability: Reliability
    actions: dict[str, dict[str, float]]  # truth group -> action -> share
    escalation_rate: dict[str, float]
    policy_recall_by_attack: dict[str, float]
    # Legitimate logins the policy did not allow: "all", then per hard case.
    policy_not_allowed: dict[str, float]
    agent_statuses: dict[str, dict[str, int]]
    latency_ms: dict[str, float]
    errors: dict[str, int]
    model_versions: dict[str, list[str]]
    counts_by_attack: dict[str, int]
    counts_by_hard_case: dict[str, int]
    targets: dict[str, bool] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        rel = self.reliability
        return {
            "logins": self.logins, "measured": self.measured, "attacks": self.attacks,
            "scores": {name: s.to_json() for name, s in self.scores.items()},
            "reliability": {"predicted": _finite(rel.predicted), "observed": _finite(rel.observed),
                            "counts": rel.counts.tolist(), "ece": rel.ece},
            "actions": self.actions, "escalation_rate": self.escalation_rate,
            "policy_recall_by_attack": self.policy_recall_by_attack,
            "policy_not_allowed": self.policy_not_allowed,
            "agent_statuses": self.agent_statuses, "latency_ms": self.latency_ms,
            "errors": self.errors, "model_versions": self.model_versions,
            "counts_by_attack": self.counts_by_attack,
            "counts_by_hard_case": self.counts_by_hard_case, "targets": self.targets,
        }


def _finite(values: NDArray[np.float64]) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def _signals(c: Collected, rows: NDArray[np.intp]) -> list[list[AgentSignal]]:
    """The recorded signals of the chosen logins, as the router combined them."""
    result = []
    for row in rows:
        signals = []
        for k, agent in enumerate(c.agents):
            status = int(c.agent_status[row, k])
            signals.append(AgentSignal(
                # An agent absent from a decision (not in the router's registry) answered
                # nothing: as good as unavailable.
                agent=agent, status=SignalStatus(status) if status else SignalStatus.UNAVAILABLE,
                risk=float(c.agent_risk[row, k]), confidence=float(c.agent_confidence[row, k]),
            ))
        result.append(signals)
    return result


@dataclass(frozen=True, slots=True)
class _Truth:
    """The measured logins' truth: attack and hard-case codes, and their names."""

    y: NDArray[np.bool_]
    attack: NDArray[np.int8]
    hard_case: NDArray[np.int8]
    attack_names: Sequence[str]
    case_names: Sequence[str]

    def attacks(self) -> dict[str, NDArray[np.bool_]]:
        """Each attack type present, and its logins."""
        return {self.attack_names[code]: self.attack == code
                for code in range(1, len(self.attack_names)) if (self.attack == code).any()}

    def hard_cases(self) -> dict[str, NDArray[np.bool_]]:
        """Each hard case present among the legitimate logins, and those logins."""
        return {self.case_names[code]: (self.hard_case == code) & ~self.y
                for code in range(1, len(self.case_names))
                if ((self.hard_case == code) & ~self.y).any()}


def _score(name: str, description: str, truth: _Truth, scores: NDArray[np.float64],
           coverage: float) -> Scored:
    y = truth.y
    summary = summarize(y, scores)
    threshold = threshold_at_fpr(y, scores, 0.01)
    return Scored(
        name=name, description=description, summary=summary, coverage=coverage,
        recall_by_attack={
            attack: flagged_share(mask, scores, threshold)
            for attack, mask in truth.attacks().items()
        },
        flagged_by_hard_case={
            case: flagged_share(mask, scores, threshold)
            for case, mask in truth.hard_cases().items()
        },
        roc=roc_curve(y, scores),
        pr=pr_curve(y, scores),
    )


def analyse(c: Collected, warm_after: float, weights: dict[str, float],
            combiner: Combiner | None) -> Analysis:
    """All the figures, over the logins after the warm-up that got a decision."""
    rows = np.flatnonzero(c.decided & (c.timestamps >= warm_after))
    y = c.attack[rows] > 0
    attack, hard_case = c.attack[rows], c.hard_case[rows]
    if not y.any() or y.all():
        raise ValueError("the measured logins need both attacks and legitimate logins")
    truth = _Truth(y, attack, hard_case, c.attack_names, c.case_names)

    def score(name: str, description: str, values: NDArray[np.float64],
              coverage: float = 1.0) -> Scored:
        return _score(name, description, truth, values, coverage)

    scores = {MESH: score(MESH, "the decision's risk (the running router)", c.risk[rows])}
    ok = c.agent_status[rows] == pb.SIGNAL_STATUS_OK
    for k, agent in enumerate(c.agents):
        alone = np.where(ok[:, k], c.agent_risk[rows, k], 0.0)
        description = f"{agent} agent alone (no signal counts as risk 0)"
        if agent == BASELINE:
            description += "; the Freeman et al. 2016 style baseline"
        scores[agent] = score(agent, description, alone, float(ok[:, k].mean()))
    scores[NOVELTY] = score(
        NOVELTY, "the login's IP /24 or /48, ASN, country, city, user agent and device that the "
        "user's history never had, each weighted by how rarely anyone's changes and how rare "
        "its value is (no labels; 0.5 without history)", c.novelty[rows],
    )
    signals = _signals(c, rows)
    scores["log-odds pool"] = score(
        "log-odds pool", "the router's pool without the learned combiner",
        _recombined(signals, lambda present: combine(present, weights).risk),
    )
    if combiner is not None:
        for agent in c.agents:
            scores[f"mesh without {agent}"] = score(
                f"mesh without {agent}", f"the learned combiner with {agent}'s signal left out",
                _recombined(signals, _without(combiner, agent)),
            )
    actions = c.action[rows]
    groups = {"legitimate": ~y, "attack": y}
    analysis = Analysis(
        logins=len(c.risk), measured=len(rows), attacks=int(y.sum()), scores=scores,
        reliability=reliability(y, c.risk[rows]),
        actions={group: _action_shares(actions[mask]) for group, mask in groups.items()},
        escalation_rate={
            group: float((actions[mask] == pb.ACTION_ESCALATE).mean())
            for group, mask in {"all": np.ones_like(y), **groups}.items()
        },
        policy_recall_by_attack={
            name: float((actions[mask] != pb.ACTION_ALLOW).mean())
            for name, mask in truth.attacks().items()
        },
        policy_not_allowed={
            name: float((actions[mask] != pb.ACTION_ALLOW).mean())
            for name, mask in {"all": ~y, **truth.hard_cases()}.items()
        },
        agent_statuses={
            agent: {pb.SignalStatus.Name(int(s)).removeprefix("SIGNAL_STATUS_"): int(n)
                    for s, n in zip(*np.unique(c.agent_status[rows, k], return_counts=True),
                                    strict=True)}
            for k, agent in enumerate(c.agents)
        },
        latency_ms={f"p{q}": float(np.percentile(c.latency_ms[rows], q)) for q in (50, 99)},
        errors=dict(c.errors),
        model_versions={name: sorted(v) for name, v in c.model_versions.items()},
        counts_by_attack={name: int(mask.sum()) for name, mask in truth.attacks().items()},
        counts_by_hard_case={name: int(mask.sum())
                             for name, mask in truth.hard_cases().items()},
    )
    analysis.targets = targets(analysis)
    return analysis


def _recombined(signals: Sequence[list[AgentSignal]],
                risk: Callable[[list[AgentSignal]], float]) -> NDArray[np.float64]:
    return np.array([risk([s for s in row if s.present]) if any(s.present for s in row)
                     else 0.0 for row in signals])


def _without(combiner: Combiner, agent: str) -> Callable[[list[AgentSignal]], float]:
    return lambda present: combiner.risk([s for s in present if s.agent != agent])


def _action_shares(actions: NDArray[np.int8]) -> dict[str, float]:
    values, counts = np.unique(actions, return_counts=True)
    total = max(len(actions), 1)
    return {pb.Action.Name(int(v)).removeprefix("ACTION_"): int(n) / total
            for v, n in zip(values, counts, strict=True)}


def targets(analysis: Analysis) -> dict[str, bool]:
    """The issue's targets at a 1% challenge rate, each true or false as measured."""
    mesh = analysis.scores[MESH]
    singles = [analysis.scores[a].summary for a in analysis.agent_statuses]
    floor = analysis.scores[NOVELTY].summary.recall_at_1pct
    not_allowed = dict(analysis.policy_not_allowed)
    legitimate = not_allowed.pop("all", 0.0)
    return {
        f"mesh recall at 1% >= {TARGET_RECALL}": mesh.summary.recall_at_1pct >= TARGET_RECALL,
        f"every attack type's recall at 1% >= {TARGET_RECALL_PER_ATTACK}": all(
            r >= TARGET_RECALL_PER_ATTACK for r in mesh.recall_by_attack.values()),
        f"mesh recall at 0.1% >= {TARGET_RECALL_AT_0_1PCT}":
            mesh.summary.recall_at_0_1pct >= TARGET_RECALL_AT_0_1PCT,
        "mesh at least as good as its best single agent (recall at 1% and at 0.1%)": all(
            mesh.summary.recall_at_1pct >= single.recall_at_1pct
            and mesh.summary.recall_at_0_1pct >= single.recall_at_0_1pct for single in singles),
        f"ECE <= {TARGET_ECE}": analysis.reliability.ece <= TARGET_ECE,
        f"legitimate logins not allowed <= {TARGET_NOT_ALLOWED:.0%} (the policy's actions)":
            legitimate <= TARGET_NOT_ALLOWED,
        f"every hard case's legitimate logins not allowed <= {TARGET_NOT_ALLOWED_HARD_CASE:.0%}":
            all(share <= TARGET_NOT_ALLOWED_HARD_CASE for share in not_allowed.values()),
        f"mesh beats the novelty baseline by >= {NOVELTY_MARGIN} (recall at 1%)":
            mesh.summary.recall_at_1pct >= floor + NOVELTY_MARGIN,
        f"{BASELINE} alone is at least as good as the novelty baseline (recall at 1%)":
            analysis.scores[BASELINE].summary.recall_at_1pct >= floor,
    }
