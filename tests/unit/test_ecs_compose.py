"""ecs/compose.yaml runs what `make cluster-up` runs: the same services, ports and settings."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from aegis_domain.registry import default_registry
from aegis_mesh.cluster import HOST, ClusterPaths, ServiceSpec, cluster_stages
from ecs.render import COMPOSE
from ecs.services import ROUTER, deployed_services
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / COMPOSE).read_text())


@pytest.fixture(scope="module")
def stages() -> list[list[ServiceSpec]]:
    # Compose runs a container per agent, as ECS a service per agent.
    return cluster_stages(ClusterPaths(), offset=0, hosts="none")


def test_compose_names_every_cluster_service_and_nothing_else(
    compose: dict[str, Any], stages: list[list[ServiceSpec]]
) -> None:
    names = [spec.name for stage in stages for spec in stage]
    assert set(default_registry().names) <= set(names)
    assert list(compose["services"]) == names


def test_each_service_runs_the_same_command_on_the_same_port(
    compose: dict[str, Any], stages: list[list[ServiceSpec]]
) -> None:
    for spec in (spec for stage in stages for spec in stage):
        service = compose["services"][spec.name]
        assert service["command"] == ["python", *spec.args]
        assert service["ports"] == [f"{HOST}:{spec.port}:{spec.port}"]
        assert service["healthcheck"]["test"][-3:] == [
            f"127.0.0.1:{spec.port}", "--peer", spec.name
        ]


def test_each_service_gets_the_clusters_settings_adapted_only_to_containers(
    compose: dict[str, Any], stages: list[list[ServiceSpec]]
) -> None:
    specs = [spec for stage in stages for spec in stage]
    ports = {spec.name: spec.port for spec in specs}
    prefixes = {service.name: service.env_prefix for service in deployed_services()}
    for spec in specs:
        service = compose["services"][spec.name]
        env = service["environment"]
        prefix = prefixes[spec.name]
        added = {prefix + "AGENT_ADDR_TEMPLATE"} if spec.name == ROUTER else set()
        assert set(env) == set(spec.env) | added, spec.name
        for key, local in spec.env.items():
            if key == prefix + "HOST":
                # In a container, a service listens on its own interface; the port is
                # published on the host's loopback only, as locally.
                assert env[key] == "0.0.0.0"
            elif key.endswith("_ADDR"):
                name, port = env[key].split(":")
                assert local == f"{HOST}:{port}" and ports[name] == int(port)
            elif key == prefix + "DATA_DIR":
                assert f"audit-data:{env[key]}" in service["volumes"]
            else:
                assert env[key] == local, key
        if spec.name == ROUTER:
            template = env[prefix + "AGENT_ADDR_TEMPLATE"]
            for entry in default_registry().agents:
                assert template.format(name=entry.name, port=entry.port) in {
                    f"{name}:{port}" for name, port in ports.items()
                }


def test_services_start_after_the_stages_before_them_are_healthy(
    compose: dict[str, Any], stages: list[list[ServiceSpec]]
) -> None:
    earlier: list[str] = []
    for stage in stages:
        for spec in stage:
            depends = compose["services"][spec.name].get("depends_on", {})
            assert sorted(depends) == sorted(earlier), spec.name
            assert all(d == {"condition": "service_healthy"} for d in depends.values())
        earlier += [spec.name for spec in stage]


def test_agents_read_the_models_make_train_wrote(compose: dict[str, Any]) -> None:
    for name in default_registry().names:
        assert compose["services"][name]["volumes"] == ["../.aegis/models:/app/.aegis/models:ro"]
