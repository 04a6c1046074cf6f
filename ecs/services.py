"""The services ecs/ deploys: the local cluster's services (the stream consumer included, moto
left out), each with its task size, settings class and image extras."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from aegis_domain.registry import Registry, default_registry
from aegis_mesh.cluster import INGEST, MOTO, ClusterPaths, ServiceSpec, cluster_stages
from aegis_runtime.settings import ServiceSettings
from agent_services.host import AgentHostSettings
from audit_service.settings import AuditSettings
from ecs.cfn import pascal
from ecs.config import DeployConfig, TaskSize, load_deploy_config
from ingest_service.settings import IngestSettings
from router_service.settings import RouterSettings

ROUTER = "router"
AUDIT = "audit"
# The services that are not agents, with their settings classes.
PLATFORM: dict[str, type[ServiceSettings]] = {
    ROUTER: RouterSettings, AUDIT: AuditSettings, INGEST: IngestSettings,
}


@dataclass(frozen=True, slots=True)
class DeployedService:
    """One ECS service (and image): what runs, where it listens, how big and how many."""

    name: str
    args: tuple[str, ...]
    port: int
    settings: type[ServiceSettings]
    extras: tuple[str, ...]
    size: TaskSize

    @property
    def env_prefix(self) -> str:
        return str(self.settings.model_config["env_prefix"])

    @property
    def logical_id(self) -> str:
        return pascal(self.name)

    @property
    def command(self) -> list[str]:
        return ["python", *self.args]

    @property
    def health_check(self) -> list[str]:
        """The runtime's health-check CLI (Docker's CMD form): healthy only when SERVING, over
        mutual TLS with the task's own certificate, which must name this service."""
        return ["CMD", "python", "-m", "aegis_runtime.healthcheck", f"127.0.0.1:{self.port}",
                "--peer", self.name]


def deployed_services(
    registry: Registry | None = None, config: DeployConfig | None = None
) -> list[DeployedService]:
    """Every service of the local cluster in its start order: audit, the agents, router, the
    stream consumer.

    Names, commands and ports come from the cluster's own definition, so that ECS, compose and
    `make cluster-up` cannot disagree; sizes from the registry (agents) and deploy.yaml.
    """
    registry = registry or default_registry()
    config = config or load_deploy_config()
    reserved = {*PLATFORM, MOTO} & set(registry.names)
    if reserved:
        raise ValueError(f"agent names {sorted(reserved)} are taken by the platform services")
    # Deployed ports are the registry's: never shifted by the caller's AEGIS_CLUSTER_PORT_OFFSET.
    # AWS itself stands in for moto. One service per agent, whatever the local cluster co-hosts
    # (AEGIS_CLUSTER_AGENT_HOSTS): each scales and is sized on its own.
    stages = cluster_stages(ClusterPaths(), registry=registry, offset=0, ingest="kinesis",
                            hosts="none")
    specs = [spec for stage in stages for spec in stage if spec.name != MOTO]
    return [_deployed(spec, registry, config) for spec in specs]


def _deployed(spec: ServiceSpec, registry: Registry, config: DeployConfig) -> DeployedService:
    if spec.name in PLATFORM:
        platform = getattr(config, spec.name)
        return DeployedService(spec.name, spec.args, spec.port, PLATFORM[spec.name],
                               platform.extras, platform)
    entry = registry.get(spec.name)
    try:
        size = TaskSize(cpu=entry.cpu, memory_mib=entry.memory_mib,
                        min_tasks=entry.min_tasks, max_tasks=entry.max_tasks)
    except ValidationError as exc:
        problems = "; ".join(error["msg"] for error in exc.errors())
        raise ValueError(f"agent {entry.name} in the registry: {problems}") from None
    extras = (entry.extra,) if entry.extra else ()
    return DeployedService(spec.name, spec.args, spec.port, AgentHostSettings, extras, size)
