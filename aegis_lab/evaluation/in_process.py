"""Labelled logins through the mesh without a cluster: the offline contexts, every agent of
a model folder, the router's combination and its policy, in one process.

What `aegis_cli.world_recall` measures with. Deterministic for the same logins and models;
what it cannot reproduce is the cluster's own behaviour (the contexts record every login as
allowed, no deadline applies, and the policy's thresholds stay the calibration world's).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from aegis_domain.registry import default_registry
from aegis_domain.types import Action, LoginContext, LoginEvent
from aegis_lab.contexts import OfflineContexts
from aegis_lab.training.pipeline import SIGNAL_BATCH, load_agents
from agent_services.detection_features import DetectionFeatures
from audit_service.settings import AuditSettings
from router_service.combine import combine
from router_service.combiner import combiner_path, load_combiner
from router_service.policy import Policy, PolicyInputs, load_policy

MESH = "mesh"


@dataclass(frozen=True, slots=True)
class Replayed:
    """The logins after the warm-up with their contexts, and per login its attack and its
    hard case ("" for none)."""

    logins: list[tuple[LoginEvent, LoginContext]]
    attacks: NDArray[np.str_]
    hard_cases: NDArray[np.str_]

    @classmethod
    def of(cls, labelled: Iterable[tuple[LoginEvent, str, str]], since: float) -> Replayed:
        """(event, attack, hard case) in time order: each event gets the context GetContext
        would give it; those before `since` (epoch seconds) are history only."""
        contexts = OfflineContexts(AuditSettings().context_bounds())
        measured, attacks, hard_cases = [], [], []
        for event, attack, hard_case in labelled:
            context = contexts.context(event)
            contexts.record(event)
            if event.timestamp >= since:
                measured.append((event, context))
                attacks.append(attack)
                hard_cases.append(hard_case)
        return cls(measured, np.array(attacks, dtype=str), np.array(hard_cases, dtype=str))


@dataclass(frozen=True, slots=True)
class Scored:
    """Per login: the mesh's risk and each agent's own, and whether the policy allowed it."""

    risks: dict[str, NDArray[np.float64]]
    allowed: NDArray[np.bool_]


def read_policy(path: Path) -> Policy:
    """A policy file, validated; a ValueError (PolicyError) names the file and the problem."""
    return load_policy(path)


def scored(model_dir: Path, policy: Policy,
           logins: Sequence[tuple[LoginEvent, LoginContext]]) -> Scored:
    """Every login through the agents of `model_dir`, combined and decided as the router
    does (every agent answered, the context was read), under `policy` with its budget turned
    into risks by the combiner of `model_dir`."""
    registry = default_registry()
    agents = load_agents(model_dir, registry, {})
    weights = {entry.name: entry.weight for entry in registry.agents}
    required = frozenset(entry.name for entry in registry.agents if entry.required)
    combiner = load_combiner(combiner_path(model_dir))
    decider = policy.within(combiner)
    by_name: dict[str, list[float]] = {MESH: [], **{name: [] for name in agents}}
    allowed = []
    for start in range(0, len(logins), SIGNAL_BATCH):
        batch = logins[start: start + SIGNAL_BATCH]
        signals = {name: agent.assess_batch(batch) for name, agent in agents.items()}
        for row, (_, context) in enumerate(batch):
            answered = [signals[name][row] for name in agents]
            combined = combine(answered, weights, combiner)
            outcome = decider.decide(PolicyInputs(combined, answered, context.velocity,
                                                 context_available=True,
                                                 required_agents=required))
            by_name[MESH].append(combined.risk)
            allowed.append(outcome.action == Action.ALLOW)
            for signal in answered:
                if signal.present:
                    by_name[signal.agent].append(signal.risk)
    return Scored({name: np.array(values) for name, values in by_name.items() if values},
                  np.array(allowed, dtype=bool))


def detection_vectors(logins: Iterable[tuple[LoginEvent, LoginContext]]) -> list[list[float]]:
    """The detection agent's features of each login, as it computes them when serving."""
    features = DetectionFeatures()
    return [features.vector(event, context) for event, context in logins]
