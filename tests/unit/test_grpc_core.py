"""Every service process starts with the gRPC core settings of aegis_runtime.grpc_core: the local
cluster puts them in each child's environment and the image in its own (gRPC core reads them at
import, so a service cannot set them itself)."""

from __future__ import annotations

import re
from pathlib import Path

from aegis_mesh.cluster import ServiceSpec, service_environment
from aegis_runtime.grpc_core import GRPC_CORE_ENVIRONMENT

DOCKERFILE = Path(__file__).resolve().parents[2] / "ecs" / "docker" / "Dockerfile"


def test_the_image_sets_every_grpc_core_setting() -> None:
    text = DOCKERFILE.read_text()
    for name, value in GRPC_CORE_ENVIRONMENT.items():
        assert re.search(rf"^\s*(ENV\s+)?{name}={re.escape(value)}\s*\\?$", text, re.MULTILINE), (
            f"{DOCKERFILE} does not set {name}={value}")


def test_a_cluster_service_starts_with_the_grpc_core_settings() -> None:
    spec = ServiceSpec("geo", ("-m", "agent_services", "geo"), 1, {"AEGIS_AGENT_PORT": "1"})
    env = service_environment({"PATH": "/bin", "AEGIS_TLS_DIR": "/elsewhere"}, spec)
    assert {k: env[k] for k in GRPC_CORE_ENVIRONMENT} == GRPC_CORE_ENVIRONMENT
    assert env["PATH"] == "/bin" and env["AEGIS_AGENT_PORT"] == "1"
    assert "AEGIS_TLS_DIR" not in env  # the cluster alone says whether a service speaks TLS


def test_an_operators_own_grpc_setting_wins() -> None:
    spec = ServiceSpec("geo", ("-m", "agent_services", "geo"), 1)
    env = service_environment({"GRPC_EXPERIMENTS": "-event_engine_dns"}, spec)
    assert env["GRPC_EXPERIMENTS"] == "-event_engine_dns"
