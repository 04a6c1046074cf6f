"""Reads and validates the agent registry (registry.yaml beside this module)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, field_validator, model_validator

REGISTRY_PATH = Path(__file__).with_name("registry.yaml")
REGISTRY_ENV = "AEGIS_AGENT_REGISTRY"


class AgentEntry(BaseModel, frozen=True):
    """One registered agent."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    module: str
    port: int = Field(ge=1024, le=65535)
    deadline_ms: int = Field(gt=0, le=10_000)
    weight: float = Field(gt=0)
    required: bool
    extra: str = ""
    cpu: int = Field(description="Fargate CPU units (1024 = 1 vCPU)")
    memory_mib: int
    min_tasks: int = Field(ge=1)
    max_tasks: int = Field(ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> AgentEntry:
        if self.max_tasks < self.min_tasks:
            raise ValueError(f"agent {self.name}: max_tasks < min_tasks")
        return self


class Registry(BaseModel, frozen=True):
    agents: tuple[AgentEntry, ...]

    @field_validator("agents")
    @classmethod
    def _unique(cls, agents: tuple[AgentEntry, ...]) -> tuple[AgentEntry, ...]:
        for attr in ("name", "port"):
            values = [getattr(a, attr) for a in agents]
            duplicates = sorted({str(v) for v in values if values.count(v) > 1})
            if duplicates:
                raise ValueError(f"duplicate agent {attr}: {', '.join(duplicates)}")
        return agents

    def get(self, name: str) -> AgentEntry:
        for entry in self.agents:
            if entry.name == name:
                return entry
        known = ", ".join(a.name for a in self.agents)
        raise KeyError(f"no agent named {name!r} in the registry (known: {known})")

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.agents]


def load_registry(path: Path = REGISTRY_PATH) -> Registry:
    return Registry.model_validate(yaml.safe_load(path.read_text()))


@functools.cache
def default_registry() -> Registry:
    """The registry every process of a cluster reads: registry.yaml, or the file named by
    AEGIS_AGENT_REGISTRY (benchmarks swap in no-op agents this way)."""
    override = os.environ.get(REGISTRY_ENV)
    return load_registry(Path(override) if override else REGISTRY_PATH)
