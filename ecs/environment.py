"""Each service's container environment on ECS: its prefixed settings and the OTEL_* export."""

from __future__ import annotations

from typing import Any

from aegis_mesh.cluster import INGEST
from ecs.audit_task import audit_settings
from ecs.cfn import ref, sub
from ecs.config import DeployConfig
from ecs.ingest_task import ingest_settings
from ecs.services import AUDIT, ROUTER, DeployedService

# The collector sidecar shares the task's network namespace (awsvpc), so it is on loopback.
OTLP_ENDPOINT = "http://127.0.0.1:4317"


def discovery_address(service: DeployedService, namespace: str) -> str:
    """host:port of a service through Cloud Map DNS: every task's address under one name."""
    return f"{service.name}.{namespace}:{service.port}"


def agent_addr_template(namespace: str) -> str:
    """The router's AGENT_ADDR_TEMPLATE; {name} and {port} are filled in from the registry."""
    return f"{{name}}.{namespace}:{{port}}"


def service_settings(
    service: DeployedService, services: list[DeployedService], config: DeployConfig
) -> dict[str, Any]:
    """The service's own settings on ECS, without the env prefix (values may be intrinsics)."""
    settings: dict[str, Any] = {
        # Inside its task's own network interface: reachable only through its security group.
        "HOST": "0.0.0.0",
        "PORT": str(service.port),
        "ENVIRONMENT": ref("Environment"),
        "LOG_FORMAT": "json",
        "GRACE_PERIOD_S": f"{config.grace_period_s:g}",
        "MAX_CONNECTION_AGE_S": f"{config.max_connection_age_s:g}",
    }
    if service.name == ROUTER:
        audit = next(s for s in services if s.name == AUDIT)
        settings["AUDIT_ADDR"] = discovery_address(audit, config.namespace)
        settings["AGENT_ADDR_TEMPLATE"] = agent_addr_template(config.namespace)
    if service.name == AUDIT:
        settings |= audit_settings()
    if service.name == INGEST:
        router = next(s for s in services if s.name == ROUTER)
        settings["ROUTER_ADDR"] = discovery_address(router, config.namespace)
        settings |= ingest_settings()
    return settings


def otel_environment(config: DeployConfig) -> dict[str, Any]:
    """OpenTelemetry's standard variables: traces and metrics over OTLP to the sidecar,
    traces sampled at the root."""
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": f"{config.trace_sample_ratio:g}",
        "OTEL_RESOURCE_ATTRIBUTES": sub("deployment.environment=${Environment}"),
    }


def container_environment(
    service: DeployedService, services: list[DeployedService], config: DeployConfig
) -> list[dict[str, Any]]:
    """The task definition's Environment list, sorted by name."""
    variables = {
        service.env_prefix + key: value
        for key, value in service_settings(service, services, config).items()
    } | otel_environment(config)
    return [{"Name": name, "Value": variables[name]} for name in sorted(variables)]
