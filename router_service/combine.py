"""Combines agent signals into one risk, a confidence and a disagreement."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from aegis_domain.types import AgentSignal

# Keeps logit() finite: an agent saying exactly 0 or 1 must not veto every other agent.
_RISK_CLIP = 1e-4


@dataclass(frozen=True, slots=True)
class Combined:
    """risk, confidence and disagreement in [0, 1]; `missing` lists agents without a signal."""

    risk: float
    confidence: float
    disagreement: float
    missing: tuple[str, ...]
    answered: int

    @property
    def no_signal(self) -> bool:
        return self.answered == 0


def logit(p: float, clip: float = _RISK_CLIP) -> float:
    """log(p / (1 - p)), with p clipped to [clip, 1 - clip]."""
    p = min(max(p, clip), 1 - clip)
    return math.log(p / (1 - p))


class Combiner(Protocol):
    """A learned combination of the present signals into one calibrated risk."""

    version: str

    def risk(self, present: Sequence[AgentSignal]) -> float: ...

    def risk_at_share(self, share: float) -> float | None:
        """The risk that challenged `share` of the calibration world's legitimate logins."""
        ...


def combine(
    signals: Sequence[AgentSignal], weights: Mapping[str, float], combiner: Combiner | None = None
) -> Combined:
    """Pool the present signals in log-odds space, each weighted by registry weight x confidence.

    - risk: the learned `combiner`'s risk when there is one (trained on the agents' outputs, see
      router_service.combiner); otherwise the weighted mean of the agents' log-odds (a
      logarithmic opinion pool), so two agents at 0.9 give 0.9, not a diluted average with an
      agent that knows nothing.
    - disagreement: weighted standard deviation of the agents' risks, scaled so that an even
      split between 0 and 1 is 1.
    - confidence: the share of the registry's total weight that answered, times the agents' own
      confidence, times agreement. An agent with no model lowers coverage like a missing one.
    """
    total_weight = sum(weights.values())
    missing = tuple(s.agent for s in signals if not s.present)
    present = [(s, weights.get(s.agent, 0.0) * s.confidence) for s in signals if s.present]
    pooled_weight = sum(w for _, w in present)
    if total_weight <= 0 or pooled_weight <= 0:
        return Combined(
            risk=0.0, confidence=0.0, disagreement=0.0, missing=missing, answered=0
        )

    if combiner is not None:
        risk = combiner.risk([s for s, _ in present])
    else:
        pooled_logit = sum(w * logit(s.risk) for s, w in present) / pooled_weight
        risk = 1 / (1 + math.exp(-pooled_logit))
    mean_risk = sum(w * s.risk for s, w in present) / pooled_weight
    variance = sum(w * (s.risk - mean_risk) ** 2 for s, w in present) / pooled_weight
    disagreement = min(1.0, 2 * math.sqrt(variance))
    coverage = pooled_weight / total_weight
    confidence = coverage * (1 - disagreement)
    return Combined(
        risk=risk,
        confidence=confidence,
        disagreement=disagreement,
        missing=missing,
        answered=len(present),
    )
