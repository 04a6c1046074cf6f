"""Behavior agent: how unlike the user's own past logins this one is (Freeman et al. 2016)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aegis_domain.login_history import LoginHistory
from aegis_domain.types import (
    AgentSignal,
    LoginContext,
    LoginEvent,
    Reason,
    SignalStatus,
)
from aegis_runtime.artifacts import fingerprint
from agent_services.attributes import CARDINALITIES, FEATURES, Feature
from agent_services.base import Agent, AgentDescription
from agent_services.behavior_population import POPULATION_FILE, Population
from agent_services.history import no_history_reason, own_logins

_SHOWN_VALUE_LENGTH = 60


class BehaviorSettings(BaseSettings):
    """Calibration of the behavior agent; env prefix AEGIS_BEHAVIOR_."""

    model_config = SettingsConfigDict(env_prefix="AEGIS_BEHAVIOR_", extra="ignore")

    prior_risk: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="Share of logins taken to be attacks before any feature is seen; also the "
        "risk of a user without history.",
    )
    max_feature_log_lr: float = Field(
        5.0,
        gt=0,
        le=50,
        description="Cap on one feature's |log likelihood ratio|, so no feature decides alone.",
    )
    max_group_log_lr: float = Field(
        8.0,
        gt=0,
        le=100,
        description="Cap on the summed |log likelihood ratio| of one group of features (where "
        "from, on what device, when): a trip changes address, network, country and city at "
        "once, which is one surprise, not four.",
    )
    half_confidence_logins: int = Field(
        10, ge=1, description="Own successful logins at which confidence reaches one half."
    )
    reason_min_log_lr: float = Field(
        1.0, ge=0, description="Least weighted log likelihood ratio reported as a reason."
    )
    max_reasons: int = Field(4, ge=0, description="Most unusual features reported.")


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one feature says: weighted log p(value | attacker) / p(value | user)."""

    feature: Feature
    value: str
    seen: int
    logins: int
    log_lr: float

    def reason(self, weight: float) -> Reason:
        shown = self.value
        if len(shown) > _SHOWN_VALUE_LENGTH:
            shown = shown[: _SHOWN_VALUE_LENGTH - 3] + "..."
        label = f"{self.feature.label} {shown}"
        if self.seen == 0:
            message = f"{label} never seen for this user in {self.logins} logins"
        else:
            message = f"{label} seen in only {self.seen} of this user's {self.logins} logins"
        return Reason(code=self.feature.reason_code, message=message, weight=weight)


class BehaviorAgent(Agent):
    """Freeman et al., "Who Are You? A Statistical Approach to Measuring User Authenticity"
    (NDSS 2016), in the spirit rather than the letter.

    For each feature, p(value | user) comes from the user's own successful logins
    (`history.own_logins`: failed or blocked attempts may be the attacker), smoothed with
    Witten-Bell interpolation: the chance of a value never seen is distinct/(logins +
    distinct) — high for a user whose IP changes daily, low for one who never moves — and
    that mass is spread by the population's p(value). p(value | attacker) is the population
    at large: an account-takeover attacker is anyone but the user, and no labels say more
    (the attackers of one world, learnt from its labels, are not the next world's: a network
    that the training world's attackers never used looked safer than the user's own). The
    features combine as a likelihood ratio under naive-Bayes
    independence, tempered by per-feature weights and bounded per group of features that move
    together (where from, on what device, when: a trip on the user's own phone is one big
    surprise offset by a familiar device, not five), and become a risk through the prior odds.
    A user without history gets the prior risk at zero confidence.
    """

    name = "behavior"

    def __init__(self, model_dir: Path, settings: BehaviorSettings | None = None) -> None:
        self.model_dir = model_dir
        self.settings = settings or BehaviorSettings()
        self.population = Population(CARDINALITIES)

    @property
    def population_path(self) -> Path:
        return self.model_dir / POPULATION_FILE

    @property
    def version(self) -> str:
        return "freeman-2." + fingerprint(self.settings.model_dump_json(), self.population.version)

    def load(self) -> None:
        """Read the population model when one was trained; without it, uniform priors."""
        if self.population_path.exists():
            self.population = Population.load(self.population_path, CARDINALITIES)

    def assess(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        own = own_logins(LoginHistory.of(context.history))
        evidence = self.evidence(event, own)
        prior = self.settings.prior_risk
        risk = _sigmoid(math.log(prior / (1 - prior)) + self._total(evidence))
        return AgentSignal(
            agent=self.name,
            status=SignalStatus.OK,
            risk=risk,
            confidence=len(own) / (len(own) + self.settings.half_confidence_logins),
            reasons=self._reasons(evidence, risk) + ([] if own else [no_history_reason()]),
            model_version=self.version,
        )

    def evidence(self, event: LoginEvent, own: LoginHistory) -> list[Evidence]:
        """One Evidence per feature the event carries."""
        cap = self.settings.max_feature_log_lr
        result = []
        for feature in FEATURES:
            value = feature.extract(event)
            if not value:
                continue
            counts = feature.counts(own)
            seen, distinct, logins = counts[value], len(counts), counts.total()
            p_global = self.population.global_p(feature.name, value)
            p_user = (seen + distinct * p_global) / (logins + distinct) if logins else p_global
            log_lr = math.log(p_global / p_user)
            capped = max(-cap, min(cap, log_lr))
            result.append(Evidence(feature, value, seen, logins, feature.weight * capped))
        return result

    def _total(self, evidence: list[Evidence]) -> float:
        """The weighted evidence, each group's sum bounded by max_group_log_lr."""
        by_group: defaultdict[str, float] = defaultdict(float)
        for e in evidence:
            by_group[e.feature.group] += e.log_lr
        cap = self.settings.max_group_log_lr
        return sum(max(-cap, min(cap, total)) for total in by_group.values())

    def _reasons(self, evidence: list[Evidence], risk: float) -> list[Reason]:
        against = sorted(
            (e for e in evidence if e.log_lr >= self.settings.reason_min_log_lr and e.log_lr > 0),
            key=lambda e: e.log_lr,
            reverse=True,
        )
        total = sum(e.log_lr for e in against)
        # A reason's weight is its share of the evidence against the login, scaled to the risk.
        return [e.reason(risk * e.log_lr / total) for e in against[: self.settings.max_reasons]]

    def describe(self) -> AgentDescription:
        return AgentDescription(
            name=self.name,
            model_version=self.version,
            features=[f.name for f in FEATURES],
            ready=True,
            description="Likelihood ratio of the login under the user's own history versus an "
            f"attacker (Freeman et al. 2016); population model: {self.population.version}.",
        )


def _sigmoid(x: float) -> float:
    # Two branches so that exp() never overflows for large |x|.
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    z = math.exp(x)
    return z / (1 + z)


def make_agent(model_dir: Path) -> BehaviorAgent:
    """The registry's entry point: population model, if any, at model_dir/population.json."""
    return BehaviorAgent(model_dir)
