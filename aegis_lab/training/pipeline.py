"""`aegis train` from start to end: replay a world, fit and publish every trained artifact.

Order matters: the behavior population and the detection model first, then the combiner,
which learns from the signals of the agents as they are now on disk (the network agent's
too, when its model was trained before). The combiner learns on a world of its own (the
combiner world: other users, later, every attack type in equal share), so that it sees each
agent as serving will, out of sample, and not the training world's mix of attacks; and, with
as much weight, on a world of the shifted family (aegis_lab.shifted, a seed of its own that
no evaluation uses), so that the agents' weights are those that hold when the logins are not
the training generator's: an agent that only the generator's own constants make strong must
not outweigh one that holds under shift.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from aegis_domain.context_rules import ContextBounds
from aegis_domain.convert import event_from_proto
from aegis_domain.registry import Registry, default_registry
from aegis_domain.types import AgentSignal
from aegis_lab.contexts import OfflineContexts
from aegis_lab.shifted.config import ShiftedConfig
from aegis_lab.shifted.tactics import TACTICS
from aegis_lab.shifted.world import generate as generate_shifted
from aegis_lab.training import combiner_fit, detection, population
from aegis_lab.training.dataset import (
    Sampled,
    Split,
    WorldData,
    build,
    concatenate,
    type_balanced_weights,
)
from aegis_lab.world import ATTACK_TYPES, WorldConfig
from aegis_runtime.artifacts import ArtifactError
from agent_services.base import Agent, build_agent
from router_service.combiner import combiner_path

log = logging.getLogger(__name__)

# Logins per assess_batch call when computing the combiner's inputs.
SIGNAL_BATCH = 256
# The combiner world's seed is the training world's plus this: apart from the seeds that
# `aegis evaluate` picks by default (the training seed plus one).
COMBINER_SEED_OFFSET = 1000
# The shifted combiner world's seed is the training world's plus this: far from the few seeds
# a shifted evaluation world is given (21-23 in the figures).
SHIFTED_SEED_OFFSET = 3000
# The training worlds after the first have the training seed plus multiples of this: below the
# combiner's offset, and apart from the seed `aegis evaluate` picks (the training seed plus one).
TRAINING_SEED_STRIDE = 100


def combiner_world(world: WorldConfig, events: int) -> WorldConfig:
    """The world the combiner learns on: other users (another seed), starting when the
    training world ends, every attack type in equal share."""
    return replace(
        world, seed=world.seed + COMBINER_SEED_OFFSET, events=events,
        users=max(10, events // max(1, world.events // world.users)),
        start=world.start + timedelta(days=world.days),
        attack_mix=dict.fromkeys(ATTACK_TYPES, 1.0),
    )


def training_worlds(world: WorldConfig, count: int) -> list[WorldConfig]:
    """`world` shared among `count` worlds of their own seeds (its logins and users split
    evenly): under domain randomisation each draws its own habits and sharing, so that the
    models learn from several draws rather than one world's constants."""
    if count <= 1:
        return [world]
    return [
        replace(world, seed=world.seed + k * TRAINING_SEED_STRIDE,
                events=max(1, world.events // count), users=max(10, world.users // count))
        for k in range(count)
    ]


class Progress(Protocol):
    """What training reports progress to (a tqdm bar, or nothing)."""

    def update(self, n: int = 1) -> object: ...


ProgressFactory = Callable[[str, int], AbstractContextManager[Progress]]


@dataclass(frozen=True, slots=True)
class TrainPlan:
    world: WorldConfig
    bounds: ContextBounds
    model_dir: Path
    split: Split = field(default_factory=Split)
    params: detection.DetectionParams = field(default_factory=detection.DetectionParams)
    combiner_events: int = 50_000
    shifted_users: int = 600
    # Training worlds the world's logins are shared among (see training_worlds).
    worlds: int = 1

    @property
    def combiner_path(self) -> Path:
        return combiner_path(self.model_dir)

    @property
    def combiner_world(self) -> WorldConfig:
        return combiner_world(self.world, self.combiner_events)

    @property
    def shifted_world(self) -> ShiftedConfig | None:
        """The shifted-family world the combiner also learns on; None when shifted_users is 0."""
        if not self.shifted_users:
            return None
        return ShiftedConfig(users=self.shifted_users, seed=self.world.seed + SHIFTED_SEED_OFFSET)

    @property
    def training_worlds(self) -> list[WorldConfig]:
        return training_worlds(self.world, self.worlds)

    def world_json(self) -> dict[str, Any]:
        shifted = self.shifted_world
        return {**world_json(self.world),
                "training_worlds": [world_json(w) for w in self.training_worlds],
                "warmup_days": self.split.warmup_days,
                "holdout_share": self.split.holdout_share,
                "combiner_world": world_json(self.combiner_world),
                "shifted_combiner_world": None if shifted is None else {
                    "family": "shifted", "seed": shifted.seed, "users": shifted.users,
                    "history_days": shifted.history_days, "eval_days": shifted.eval_days}}


def world_json(w: WorldConfig) -> dict[str, Any]:
    """A world's configuration as JSON (in artifacts' metadata and reports)."""
    return {
        "seed": w.seed, "users": w.users, "events": w.events, "days": w.days,
        "start": w.start.isoformat(), "attack_share": w.attack_share,
        "attack_mix": dict(w.attack_mix), "randomised": w.randomised, "knobs": asdict(w.knobs),
    }


@dataclass(slots=True)
class TrainReport:
    """What was written, and the figures measured while training."""

    versions: dict[str, str] = field(default_factory=dict)
    detection_metrics: dict[str, Any] = field(default_factory=dict)
    combiner_metrics: dict[str, Any] = field(default_factory=dict)
    combiner_agents: list[str] = field(default_factory=list)
    skipped_agents: dict[str, str] = field(default_factory=dict)


def replay_world(plan: TrainPlan, progress: ProgressFactory) -> WorldData:
    """The training worlds as one; they keep no logins whole (the combiner has a world of its
    own)."""
    split = replace(plan.split, combiner_legit=0)
    worlds = plan.training_worlds
    with progress("replaying the training worlds", sum(w.events for w in worlds)) as bar:
        return concatenate([build(world, plan.bounds, split, on_login=lambda: bar.update())
                            for world in worlds])


def replay_combiner_world(plan: TrainPlan, progress: ProgressFactory) -> WorldData:
    """The combiner world, every user's logins kept whole after the warm-up (the legitimate
    ones sampled down to `split.combiner_legit`)."""
    world = plan.combiner_world
    split = replace(plan.split, holdout_share=1.0)
    with progress("replaying the combiner world", world.events) as bar:
        return build(world, plan.bounds, split, on_login=lambda: bar.update())


def replay_shifted_world(plan: TrainPlan, progress: ProgressFactory) -> list[Sampled]:
    """The shifted combiner world's last days (its hard cases and attacks), each login with
    its context; attack codes are the tactics' places in TACTICS, plus one."""
    config = plan.shifted_world
    if config is None:
        return []
    tactics = list(TACTICS)
    contexts = OfflineContexts(plan.bounds)
    sampled = []
    logins = generate_shifted(config)
    with progress("replaying the shifted combiner world", len(logins)) as bar:
        for login in logins:
            event = event_from_proto(login.event)
            context = contexts.context(event)
            contexts.record(event)
            if event.timestamp * 1000 >= config.eval_start_ms:
                attack = tactics.index(login.truth.attack) + 1 if login.truth.attack else 0
                sampled.append(Sampled(event, context, attack, 0, 1.0))
            bar.update()
    return sampled


def train_all(plan: TrainPlan, progress: ProgressFactory) -> TrainReport:
    """Behavior population, detection model, then the combiner."""
    report = TrainReport()
    data = replay_world(plan, progress)
    report.versions["behavior"] = population.save(plan.model_dir / "behavior", data)
    with progress("boosting rounds", plan.params.rounds) as bar:
        trained = detection.train(data, plan.params, plan.world.seed, lambda: bar.update())
    report.versions["detection"] = detection.save(
        plan.model_dir / "detection", trained, data, plan.params, plan.world_json()
    )
    report.detection_metrics = trained.metrics
    train_combiner(plan, replay_combiner_world(plan, progress), progress, report,
                   shifted=replay_shifted_world(plan, progress))
    return report


def train_combiner(plan: TrainPlan, data: WorldData, progress: ProgressFactory,
                  report: TrainReport, registry: Registry | None = None,
                  shifted: Sequence[Sampled] = ()) -> None:
    """Run every registered agent in-process on the kept logins (of the combiner world, and
    of the shifted one if any) and fit the combiner, the attack types of each world weighted
    alike and the two worlds as much as each other."""
    agents = load_agents(plan.model_dir, registry or default_registry(), report.skipped_agents)
    signals: list[dict[str, AgentSignal]] = []
    labels: list[NDArray[np.bool_]] = []
    weights: list[NDArray[np.float64]] = []
    for name, logins in (("combiner", data.sampled), ("shifted combiner", shifted)):
        if not logins:
            continue
        with progress(f"agent signals of the {name} world", len(logins)) as bar:
            signals += _signals(agents, logins, bar)
        attack = np.array([s.attack for s in logins])
        weight = np.array([s.weight for s in logins]) * type_balanced_weights(attack)
        if weights:
            weight *= weights[0].sum() / weight.sum()
        labels.append(attack > 0)
        weights.append(weight)
    answered = [name for name in agents
                if any(name in by_agent and by_agent[name].present for by_agent in signals)]
    # The shifted world's logins, when there are any, come last.
    validation = np.zeros(len(signals), dtype=bool)
    validation[len(data.sampled):] = True
    rows = combiner_fit.CombinerRows(
        signals=signals, labels=np.concatenate(labels), weights=np.concatenate(weights),
        validation=validation,
    )
    beta, metrics = combiner_fit.fit(rows, answered)
    combiner = combiner_fit.combiner_file(beta, answered, metrics, data.data_hash())
    combiner_fit.save(plan.combiner_path, combiner)
    report.versions["combiner"] = combiner.model_version
    report.combiner_metrics = metrics
    report.combiner_agents = answered


def load_agents(model_dir: Path, registry: Registry, skipped: dict[str, str]) -> dict[str, Agent]:
    """Every registered agent with its model as on disk; one that cannot load is left out
    (and said so), as the running system would run without it."""
    agents = {}
    for entry in registry.agents:
        try:
            agent = build_agent(entry, model_dir / entry.name)
            agent.load()
        except (ArtifactError, ImportError) as exc:
            skipped[entry.name] = str(exc)
            log.warning("agent left out of the combiner", extra={"agent": entry.name})
            continue
        agents[entry.name] = agent
    return agents


def _signals(
    agents: dict[str, Agent], sampled: Sequence[Sampled], bar: Progress
) -> Iterator[dict[str, AgentSignal]]:
    # In batches: the network agent scores a whole batch in one forward pass, many times
    # faster than one login at a time, with the same signals.
    for start in range(0, len(sampled), SIGNAL_BATCH):
        requests = [(login.event, login.context) for login in sampled[start: start + SIGNAL_BATCH]]
        by_agent = {name: agent.assess_batch(requests) for name, agent in agents.items()}
        for row in range(len(requests)):
            yield {name: signals[row] for name, signals in by_agent.items()}
        bar.update(len(requests))
