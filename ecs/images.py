"""Container images: one per service, built from the repository root with ecs/docker/Dockerfile
and only that service's extras.

    python -m ecs.images --list                 # the services, one per line
    python -m ecs.images --repository ACCOUNT.dkr.ecr.REGION.amazonaws.com/aegis \\
        --tag TAG [--push] [--print] [SERVICE ...]
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from ecs.services import DeployedService, deployed_services

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = "ecs/docker/Dockerfile"
# Copied into an image built without a trained model; its agent answers NO_MODEL.
NO_MODEL_DIR = "ecs/docker/no-model"
# Where `aegis train` leaves models, relative to the repository root, one folder per agent.
MODELS_DIR = ".aegis/models"
# The pinned versions every image installs (as constraints: see the Dockerfile).
LOCK_FILE = "requirements.lock"
# The extra's requirement that needs the CPU-only wheel index (the default one is CUDA's).
CPU_INDEX_PACKAGE = "torch"


def pyproject(root: Path = REPO_ROOT) -> dict:
    with (root / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    if match is None:
        raise ValueError(f"cannot read a package name from {requirement!r}")
    return match.group(0).lower().replace("_", "-")


def image_requirements(service: DeployedService, project: dict) -> list[str]:
    """What the service's image installs: the base dependencies plus its extras'."""
    optional = project["project"].get("optional-dependencies", {})
    unknown = [extra for extra in service.extras if extra not in optional]
    if unknown:
        raise ValueError(f"{service.name}: extras {unknown} are not in pyproject.toml "
                         f"(known: {', '.join(optional)})")
    extras = [req for extra in service.extras for req in optional[extra]]
    return [*project["project"]["dependencies"], *extras]


def build_args(service: DeployedService, project: dict, model_dir: str) -> dict[str, str]:
    """The Dockerfile's build arguments for one service."""
    if service.args[:1] != ("-m",):
        raise ValueError(f"{service.name}: expected `python -m MODULE ...`, got {service.args}")
    torch = [
        req for req in image_requirements(service, project)
        if requirement_name(req) == CPU_INDEX_PACKAGE
    ]
    return {
        "SERVICE": service.name,
        "MAIN": " ".join(service.args[1:]),
        "PORT": str(service.port),
        "EXTRAS": ",".join(service.extras),
        "TORCH": torch[0] if torch else "",
        "MODEL_DIR": model_dir,
    }


def model_dir(service: DeployedService, root: Path = REPO_ROOT) -> str:
    """The service's trained model folder when there is one, else the empty placeholder."""
    folder = f"{MODELS_DIR}/{service.name}"
    return folder if (root / folder).is_dir() else NO_MODEL_DIR


def build_command(image: str, args: dict[str, str]) -> list[str]:
    """`docker build` of one image, run from the repository root."""
    flags = [part for name, value in args.items() for part in ("--build-arg", f"{name}={value}")]
    return ["docker", "build", "-f", DOCKERFILE, "-t", image, *flags, "."]


def main(argv: Sequence[str] | None = None) -> int:
    services = deployed_services()
    parser = argparse.ArgumentParser(
        prog="python -m ecs.images", description=__doc__.splitlines()[0]
    )
    names = [s.name for s in services]
    parser.add_argument("services", nargs="*", metavar="SERVICE",
                        help=f"images to build: {', '.join(names)} (default: all)")
    parser.add_argument("--list", action="store_true", help="print the service names and exit")
    parser.add_argument("--repository", help="image name prefix: REGISTRY/PREFIX")
    parser.add_argument("--tag", help="image tag, e.g. the git sha")
    parser.add_argument("--push", action="store_true", help="docker push after each build")
    parser.add_argument("--print", action="store_true", dest="dry_run",
                        help="print the commands instead of running them")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(s.name for s in services))
        return 0
    if not args.repository or not args.tag:
        parser.error("--repository and --tag are required to build")
    unknown = sorted(set(args.services) - set(names))
    if unknown:
        parser.error(f"unknown services {unknown}; known: {', '.join(names)}")
    project = pyproject()
    chosen = [s for s in services if not args.services or s.name in args.services]
    for service in chosen:
        image = f"{args.repository}/{service.name}:{args.tag}"
        commands = [build_command(image, build_args(service, project, model_dir(service)))]
        if args.push:
            commands.append(["docker", "push", image])
        for command in commands:
            print(shlex.join(command), file=sys.stdout if args.dry_run else sys.stderr)
            if not args.dry_run and subprocess.run(command, cwd=REPO_ROOT).returncode != 0:
                print(f"failed: {shlex.join(command)}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
