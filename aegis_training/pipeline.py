"""`aegis train` from start to end: replay a world, fit and publish every trained artifact.

Order matters: the behavior population and the detection model first, then the stacker,
which learns from the signals of the agents as they are now on disk (the network agent's
too, when its model was trained before).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aegis_domain.types import AgentSignal
from aegis_training import detection, population, stacking
from aegis_training.dataset import Sampled, Split, WorldData, build
from aegis_world import WorldConfig
from agent_services.artifacts import ArtifactError
from agent_services.base import Agent
from agent_services.registry import Registry, default_registry
from audit_service.context import ContextBounds
from router_service.stacking import STACKER_FILE

log = logging.getLogger(__name__)

ROUTER_MODEL_DIR = "router"


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

    @property
    def combiner_path(self) -> Path:
        return self.model_dir / ROUTER_MODEL_DIR / STACKER_FILE

    def world_json(self) -> dict[str, Any]:
        w = self.world
        return {
            "seed": w.seed, "users": w.users, "events": w.events, "days": w.days,
            "start": w.start.isoformat(), "attack_share": w.attack_share,
            "attack_mix": dict(w.attack_mix), "warmup_days": self.split.warmup_days,
            "holdout_share": self.split.holdout_share,
        }


@dataclass(slots=True)
class TrainReport:
    """What was written, and the figures measured while training."""

    versions: dict[str, str] = field(default_factory=dict)
    detection_metrics: dict[str, Any] = field(default_factory=dict)
    stacker_metrics: dict[str, Any] = field(default_factory=dict)
    stacker_agents: list[str] = field(default_factory=list)
    skipped_agents: dict[str, str] = field(default_factory=dict)


def replay_world(plan: TrainPlan, progress: ProgressFactory) -> WorldData:
    with progress("replaying the world", plan.world.events) as bar:
        return build(plan.world, plan.bounds, plan.split, on_login=lambda: bar.update())


def train_all(plan: TrainPlan, progress: ProgressFactory) -> TrainReport:
    """Behavior population, detection model, then the stacker."""
    report = TrainReport()
    data = replay_world(plan, progress)
    report.versions["behavior"] = population.save(plan.model_dir / "behavior", data)
    with progress("boosting rounds", plan.params.rounds) as bar:
        trained = detection.train(data, plan.params, plan.world.seed, lambda: bar.update())
    report.versions["detection"] = detection.save(
        plan.model_dir / "detection", trained, data, plan.params, plan.world_json()
    )
    report.detection_metrics = trained.metrics
    train_stacker(plan, data, progress, report)
    return report


def train_stacker(plan: TrainPlan, data: WorldData, progress: ProgressFactory,
                  report: TrainReport, registry: Registry | None = None) -> None:
    """Run every registered agent in-process on the kept logins and fit the stacker."""
    agents = load_agents(plan.model_dir, registry or default_registry(), report.skipped_agents)
    with progress("agent signals for the stacker", len(data.sampled)) as bar:
        signals = list(_signals(agents, data.sampled, bar))
    answered = [name for name in agents
                if any(name in by_agent and by_agent[name].present for by_agent in signals)]
    rows = stacking.StackerRows(
        signals=signals,
        labels=np.array([s.attack > 0 for s in data.sampled]),
        weights=np.array([s.weight for s in data.sampled]),
    )
    beta, metrics = stacking.fit(rows, answered)
    stacker = stacking.stacker_file(beta, answered, metrics, data.data_hash())
    stacking.save(plan.combiner_path, stacker)
    report.versions["combiner"] = stacker.model_version
    report.stacker_metrics = metrics
    report.stacker_agents = answered


def load_agents(model_dir: Path, registry: Registry, skipped: dict[str, str]) -> dict[str, Agent]:
    """Every registered agent with its model as on disk; one that cannot load is left out
    (and said so), as the running system would run without it."""
    agents = {}
    for entry in registry.agents:
        try:
            agent = entry.make_agent(model_dir / entry.name)
            agent.load()
        except (ArtifactError, ImportError) as exc:
            skipped[entry.name] = str(exc)
            log.warning("agent left out of the stacker", extra={"agent": entry.name})
            continue
        agents[entry.name] = agent
    return agents


def _signals(
    agents: dict[str, Agent], sampled: Iterable[Sampled], bar: Progress
) -> Iterator[dict[str, AgentSignal]]:
    for login in sampled:
        yield {name: agent.assess(login.event, login.context) for name, agent in agents.items()}
        bar.update()
