"""The README and the docs it links stay true: every setting a service reads is documented,
the top gets a newcomer going in a screenful, and no link leaves the repository."""

import re

from aegis_runtime.settings import ServiceSettings
from aegis_runtime.tls import TlsSettings
from agent_services.behavior import BehaviorSettings
from agent_services.geo import GeoSettings
from agent_services.host import AgentHostSettings
from agent_services.network.agent import NetworkSettings
from audit_service.settings import AuditSettings
from ingest_service.settings import IngestSettings
from router_service.settings import RouterSettings
from tests.conftest import REPO_ROOT

DOC_FILES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
README = "\n".join(path.read_text() for path in DOC_FILES)
# What a newcomer reads before scrolling.
SCREENFUL = 45


def test_every_setting_is_documented() -> None:
    common = set(ServiceSettings.model_fields)
    missing = [
        f"{cls.model_config['env_prefix']}{name.upper()}"
        for cls in (RouterSettings, AuditSettings, AgentHostSettings, GeoSettings,
                    BehaviorSettings, NetworkSettings, TlsSettings, IngestSettings)
        for name in cls.model_fields
        if name not in common
        and f"{cls.model_config['env_prefix']}{name.upper()}" not in README
    ]
    missing += [f"`{name.upper()}`" for name in common if f"`{name.upper()}`" not in README]
    assert not missing, f"settings missing from README.md and docs/: {missing}"


def test_readme_names_the_two_commands_and_every_make_target_it_documents() -> None:
    assert "make run" in README and "make test" in README
    makefile = (REPO_ROOT / "Makefile").read_text()
    for target in ("install", "proto", "proto-check", "cluster-up", "cluster-down", "run", "test"):
        assert f"\n{target}:" in makefile, target


def test_the_top_of_the_readme_goes_from_clone_to_a_scored_login_and_green_tests() -> None:
    top = "\n".join((REPO_ROOT / "README.md").read_text().splitlines()[:SCREENFUL])
    for step in ("make run", ".venv/bin/activate", "aegis score", "make test"):
        assert step in top, step


def test_no_link_leaves_the_repository_and_every_link_resolves() -> None:
    for path in DOC_FILES:
        text = path.read_text()
        assert "../shared" not in text, f"{path.name} points outside the repository"
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if re.match(r"[a-z]+://", target):
                continue
            resolved = (path.parent / target).resolve()
            assert resolved.is_relative_to(REPO_ROOT), f"{path.name}: {target} leaves the repo"
            assert resolved.exists(), f"{path.name}: {target} does not exist"
