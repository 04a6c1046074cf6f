"""The README stays true: every setting a service reads is documented there."""

from aegis_runtime.settings import ServiceSettings
from agent_services.behavior import BehaviorSettings
from agent_services.geo import GeoSettings
from agent_services.host import AgentHostSettings
from agent_services.network.agent import NetworkSettings
from audit_service.settings import AuditSettings
from router_service.settings import RouterSettings
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    common = set(ServiceSettings.model_fields)
    missing = [
        f"{cls.model_config['env_prefix']}{name.upper()}"
        for cls in (RouterSettings, AuditSettings, AgentHostSettings, GeoSettings,
                    BehaviorSettings, NetworkSettings)
        for name in cls.model_fields
        if name not in common
        and f"{cls.model_config['env_prefix']}{name.upper()}" not in README
    ]
    missing += [f"`{name.upper()}`" for name in common if f"`{name.upper()}`" not in README]
    assert not missing, f"settings missing from README.md: {missing}"


def test_readme_names_the_two_commands_and_every_make_target_it_documents() -> None:
    assert "make run" in README and "make test" in README
    makefile = (REPO_ROOT / "Makefile").read_text()
    for target in ("install", "proto", "proto-check", "cluster-up", "cluster-down", "run", "test"):
        assert f"\n{target}:" in makefile, target
