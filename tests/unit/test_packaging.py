"""What a fresh machine installs: the lock covers pyproject.toml, the generated code matches the
locked codegen, and the wheel (what the images install, not the editable checkout) carries
every file the services read at run time."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = REPO_ROOT / "requirements.lock"
# Files beside the code that the services open at run time (registry, policies, reference
# tables) or that typed clients read (.pyi, .proto).
RUNTIME_DATA = (".yaml", ".csv", ".pyi", ".proto")


def locked_versions() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", LOCK.read_text(), flags=re.MULTILINE)
    return {canonicalize_name(name): version for name, version in pins}


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    texts = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        texts.extend(extra)
    return [Requirement(text) for text in texts]


def test_every_requirement_is_pinned_in_the_lock_at_a_version_it_allows() -> None:
    locked = locked_versions()
    for requirement in project_requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements.lock pins {name}=={locked[name]}, outside {requirement}: run make lock"
        )


def test_every_pin_carries_a_hash() -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", LOCK.read_text())
    pinned = [block for block in blocks if re.match(r"[A-Za-z0-9_.-]+==", block)]
    assert pinned
    assert all("--hash=sha256:" in block for block in pinned)


def test_torch_is_the_cpu_build() -> None:
    assert locked_versions()["torch"].endswith("+cpu")


def test_generated_grpc_code_is_from_the_locked_codegen() -> None:
    tools = locked_versions()["grpcio-tools"]
    for generated in sorted((REPO_ROOT / "protos/aegis/v1").glob("*_pb2_grpc.py")):
        match = re.search(r"GRPC_GENERATED_VERSION = '([^']+)'", generated.read_text())
        assert match and match.group(1) == tools, f"{generated.name}: regenerate (make proto)"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[zipfile.ZipFile, str]:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(REPO_ROOT)],
        capture_output=True, text=True, check=True,
    )
    (path,) = out.glob("aegisai-*.whl")
    return zipfile.ZipFile(path), build.stdout + build.stderr


def test_the_wheel_carries_every_runtime_file(wheel: tuple[zipfile.ZipFile, str]) -> None:
    archive, _ = wheel
    names = set(archive.namelist())
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    expected = set()
    for path in tracked:
        top = path.split("/")[0]
        if path.endswith(RUNTIME_DATA) and top not in {"tests", ".ci"} and "/" in path:
            # The proto root is not a package: aegis/ sits at the wheel's top.
            expected.add(path.removeprefix("protos/"))
    # Only files inside packages ship; the test is pointless if it finds none of them.
    expected = {path for path in expected if path.split("/")[0] in
                {name.split("/")[0] for name in names}}
    assert {"aegis_domain/registry.yaml", "router_service/policies/default.yaml",
            "aegis/v1/router_pb2.pyi"} <= expected
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"


def test_the_build_warns_of_nothing(wheel: tuple[zipfile.ZipFile, str]) -> None:
    _, output = wheel
    for warning in ("Deprecat", "would be ignored", "SetuptoolsWarning"):
        assert warning not in output, output
