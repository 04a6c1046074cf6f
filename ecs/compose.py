"""The compose file for teams with Docker: `make cluster-up` as containers, with the same
services, ports and settings (`docker compose -f ecs/compose.yaml up`)."""

from __future__ import annotations

from pathlib import Path

from aegis_domain.registry import Registry
from aegis_mesh.cluster import HOST, ClusterPaths, ServiceSpec, cluster_stages
from agent_services.host import AgentHostSettings
from ecs.cfn import Json
from ecs.images import DOCKERFILE, NO_MODEL_DIR, build_args
from ecs.services import ROUTER, DeployedService

# The image's WORKDIR holds .aegis/ as the repository root does locally.
CONTAINER_STATE = Path("/app/.aegis")
# Inside its container a service must listen on every interface for the port to be published.
CONTAINER_HOST = "0.0.0.0"
AUDIT_VOLUME = "audit-data"
# Relative to this file's folder (compose resolves paths from there): the repository's models.
HOST_MODELS = "../.aegis/models"
# Compose names each container after its service, so the router reaches agents by name.
ROUTER_AGENT_ADDR_TEMPLATE = "{name}:{port}"


def container_environment(spec: ServiceSpec, service: DeployedService,
                          specs: list[ServiceSpec]) -> dict[str, str]:
    """The cluster's settings of `spec`, but listening on every interface and reaching the
    other services by their container names."""
    by_address = {f"{HOST}:{other.port}": f"{other.name}:{other.port}" for other in specs}
    env = {key: by_address.get(value, value) for key, value in spec.env.items()}
    env[service.env_prefix + "HOST"] = CONTAINER_HOST
    if spec.name == ROUTER:
        env[service.env_prefix + "AGENT_ADDR_TEMPLATE"] = ROUTER_AGENT_ADDR_TEMPLATE
    return env


def render_compose(
    services: list[DeployedService], registry: Registry, project: dict, stop_timeout_s: int
) -> Json:
    """The compose document; services start in the cluster's order, each once the previous
    stages are healthy."""
    by_name = {service.name: service for service in services}
    # One container per agent, as the ECS services it stands for.
    stages = cluster_stages(ClusterPaths(CONTAINER_STATE), registry=registry, offset=0,
                            hosts="none")
    specs = [spec for stage in stages for spec in stage]
    compose: Json = {"name": "aegis", "services": {}, "volumes": {AUDIT_VOLUME: {}}}
    started: list[str] = []
    for stage in stages:
        for spec in stage:
            service = by_name[spec.name]
            entry: Json = {
                "image": f"aegis/{spec.name}:local",
                "build": {
                    "context": "..",
                    "dockerfile": DOCKERFILE,
                    "args": build_args(service, project, NO_MODEL_DIR),
                },
                "command": service.command,
                "environment": container_environment(spec, service, specs),
                "ports": [f"{HOST}:{spec.port}:{spec.port}"],
                # Frequent checks while starting, rare ones after: each costs a Python start.
                "healthcheck": {
                    "test": service.health_check,
                    "interval": "10s",
                    "timeout": "3s",
                    "retries": 3,
                    "start_period": "60s",
                    "start_interval": "1s",
                },
                "stop_grace_period": f"{stop_timeout_s}s",
            }
            volumes = _volumes(spec, service)
            if volumes:
                entry["volumes"] = volumes
            if started:
                entry["depends_on"] = {
                    name: {"condition": "service_healthy"} for name in started
                }
            compose["services"][spec.name] = entry
        started += [spec.name for spec in stage]
    return compose


def _volumes(spec: ServiceSpec, service: DeployedService) -> list[str]:
    data_dir = spec.env.get(service.env_prefix + "DATA_DIR")
    if data_dir is not None:
        return [f"{AUDIT_VOLUME}:{data_dir}"]
    if service.settings is AgentHostSettings:
        # The models `make train` wrote, as the local cluster's agents read them.
        return [f"{HOST_MODELS}:{CONTAINER_STATE / 'models'}:ro"]
    return []
