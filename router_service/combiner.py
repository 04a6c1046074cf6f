"""The learned combination: a logistic combiner over the agents' risks, trained offline.

risk = sigmoid(intercept + sum over the agents that answered of (bias + weight * logit(risk)))

An agent that did not answer adds nothing, so the combiner was trained with agents left out
now and then, as timeouts leave them out. Agents it was not trained with are ignored (their
signals stay in the decision). Without a combiner file the router pools log-odds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from aegis_domain.types import AgentSignal
from aegis_runtime.artifacts import fingerprint, read_json_model
from router_service.combine import logit

COMBINER_FILE = "combiner.json"
# The router's folder among the trained models (each agent has one named after it).
ROUTER_MODEL_DIR = "router"
# How far from 0 and 1 a fitted combiner reads an agent's risk. Far wider than the unweighted
# pool's clip: a fitted weight, not the clip, bounds what one agent can say, and the behavior
# agent ranks logins between 1e-9 and 1e-3 (a clip at 1e-4 tied most of its ranking: its
# recall at 1% on a shifted world fell from 0.63 to 0.26 as the combiner read it).
FITTED_RISK_CLIP = 1e-12


def combiner_path(model_dir: Path) -> Path:
    """Where the combiner lives in a folder of trained models."""
    return model_dir / ROUTER_MODEL_DIR / COMBINER_FILE


class AgentTerm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bias: float = Field(description="Added when the agent answered.")
    weight: float = Field(description="Times the log-odds of the agent's risk.")


class Fallback(BaseModel):
    """The combination to use when the primary agent did not answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intercept: float
    agents: dict[str, AgentTerm] = Field(min_length=1)


class CombinerFile(BaseModel):
    """combiner.json, as `aegis train` writes it; trainers may add fields (metrics, data)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model_version: str = Field(min_length=1)
    intercept: float
    agents: dict[str, AgentTerm] = Field(min_length=1)
    primary: str | None = Field(
        None,
        description="The agent the others were trusted less against (on a shifted world, "
        "where it ranked logins best alone); when it did not answer, `fallback` applies.",
    )
    fallback: Fallback | None = Field(
        None, description="The others at full trust, for a decision without the primary agent."
    )
    risk_clip: float = Field(
        1e-4,
        gt=0,
        lt=0.5,
        description="Each agent's risk is read as log-odds clipped to [risk_clip, 1 - "
        "risk_clip], as in the fit (files without it were fitted at 1e-4).",
    )
    risk_at_challenge_share: dict[float, float] = Field(
        default_factory=dict,
        description="Share of legitimate logins challenged -> the risk at and above which that "
        "share lay on the calibration world: how a policy's budgets become risks.",
    )


class LogisticCombiner:
    """A Combiner read from combiner.json."""

    def __init__(self, spec: CombinerFile, version: str) -> None:
        self.spec = spec
        self.version = version

    def risk(self, present: Sequence[AgentSignal]) -> float:
        spec = self.spec
        intercept, terms = spec.intercept, spec.agents
        # Without the primary agent the others are all there is: their trust was cut only
        # where the primary agent ranks better.
        if spec.fallback is not None and all(s.agent != spec.primary for s in present):
            intercept, terms = spec.fallback.intercept, spec.fallback.agents
        z = intercept
        for signal in present:
            term = terms.get(signal.agent)
            if term is not None:
                z += term.bias + term.weight * logit(signal.risk, spec.risk_clip)
        # Two branches so that exp() never overflows.
        if z >= 0:
            return 1 / (1 + math.exp(-z))
        return math.exp(z) / (1 + math.exp(z))


    def risk_at_share(self, share: float) -> float | None:
        """The risk that challenges `share` of legitimate logins on the calibration world,
        interpolated in log-share between the stated points (the nearest end beyond them);
        None when the file states none."""
        table = sorted(self.spec.risk_at_challenge_share.items())
        if not table:
            return None
        for (low, low_risk), (high, high_risk) in itertools.pairwise(table):
            if low <= share <= high:
                t = math.log(share / low) / math.log(high / low)
                return low_risk + t * (high_risk - low_risk)
        return table[0][1] if share < table[0][0] else table[-1][1]


def load_combiner(path: Path) -> LogisticCombiner | None:
    """The combiner at `path`, None when there is none; ArtifactError when it is unusable."""
    if not path.exists():
        return None
    spec = read_json_model(path, CombinerFile)
    return LogisticCombiner(spec, f"{spec.model_version}.{fingerprint(path.read_bytes())}")
