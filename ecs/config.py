"""ecs/deploy.yaml: router, audit and stream consumer task sizes, and the settings every ECS
service shares."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field, model_validator

DEPLOY_PATH = Path(__file__).with_name("deploy.yaml")

# Fargate's task sizes: the memory (MiB) allowed with each CPU value.
_FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


def fargate_size_problem(cpu: int, memory_mib: int) -> str | None:
    """Why (cpu, memory_mib) is not a Fargate task size, or None when it is one."""
    allowed = _FARGATE_MEMORY.get(cpu)
    if allowed is None:
        return f"cpu {cpu} is not a Fargate size (one of {', '.join(map(str, _FARGATE_MEMORY))})"
    if memory_mib not in allowed:
        if len(allowed) <= 4:
            choices = ", ".join(map(str, allowed))
        else:
            choices = f"{allowed[0]} to {allowed[-1]} in steps of {allowed[1] - allowed[0]}"
        return f"memory_mib {memory_mib} does not fit cpu {cpu} on Fargate ({choices})"
    return None


class TaskSize(BaseModel, frozen=True):
    """A service's Fargate task size and autoscaling bounds."""

    cpu: int = Field(description="Fargate CPU units (1024 = 1 vCPU).")
    memory_mib: int = Field(description="Task memory in MiB.")
    min_tasks: int = Field(ge=1, description="Autoscaling lower bound (and the first count).")
    max_tasks: int = Field(ge=1, description="Autoscaling upper bound.")

    @model_validator(mode="after")
    def _valid(self) -> TaskSize:
        problem = fargate_size_problem(self.cpu, self.memory_mib)
        if problem:
            raise ValueError(problem)
        if self.max_tasks < self.min_tasks:
            raise ValueError("max_tasks < min_tasks")
        return self


class PlatformServiceConfig(TaskSize, frozen=True):
    """The router or the audit service: its task size, and the extras its image installs."""

    extras: tuple[str, ...] = Field((), description="pyproject optional-dependency groups.")


class IngestConfig(PlatformServiceConfig, frozen=True):
    """The stream consumer: a platform service that also scales on how far behind it reads."""

    iterator_age_target_ms: int = Field(
        gt=0, description="Target of the input stream's GetRecords.IteratorAgeMilliseconds "
        "(the age of the last record read): above it, more consumer tasks.")


class Scaling(BaseModel, frozen=True):
    """Target tracking on the service's average CPU and memory utilisation."""

    cpu_target_percent: float = Field(gt=0, le=100)
    memory_target_percent: float = Field(gt=0, le=100)
    scale_out_cooldown_s: int = Field(ge=0)
    scale_in_cooldown_s: int = Field(ge=0)


class DeployConfig(BaseModel, frozen=True):
    """The contents of ecs/deploy.yaml."""

    router: PlatformServiceConfig
    audit: PlatformServiceConfig
    ingest: IngestConfig
    scaling: Scaling
    grace_period_s: float = Field(gt=0)
    stop_timeout_s: int = Field(gt=0, le=120, description="Fargate allows at most 120 s.")
    max_connection_age_s: float = Field(gt=0)
    namespace: str = Field(pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
    dns_ttl_s: int = Field(ge=0)
    health_check_start_period_s: int = Field(ge=0, le=300)
    log_retention_days: int = Field(gt=0)
    otel_collector_image: str
    otel_collector_memory_mib: int = Field(gt=0)
    trace_sample_ratio: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _drain_fits(self) -> DeployConfig:
        # SIGKILL at stop_timeout_s must come after the drain has ended, with a margin for
        # closing clients once the server has stopped.
        if self.stop_timeout_s < self.grace_period_s + 5:
            raise ValueError(
                f"stop_timeout_s ({self.stop_timeout_s}) must exceed grace_period_s "
                f"({self.grace_period_s:g}) by at least 5 s"
            )
        return self


def load_deploy_config(path: Path = DEPLOY_PATH) -> DeployConfig:
    """Read and validate deploy.yaml; a bad value raises naming its field."""
    return DeployConfig.model_validate(yaml.safe_load(path.read_text()))
