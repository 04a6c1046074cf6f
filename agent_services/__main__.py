"""`python -m agent_services NAME`: host one registered agent."""

from __future__ import annotations

import argparse

from aegis_domain.registry import default_registry
from aegis_runtime.server import serve
from aegis_runtime.tls import service_identity
from agent_services.base import build_agent
from agent_services.host import AgentComponent, AgentHostSettings


def main() -> None:
    registry = default_registry()
    parser = argparse.ArgumentParser(prog="python -m agent_services")
    parser.add_argument("name", choices=registry.names, help="the agent to host")
    args = parser.parse_args()
    entry = registry.get(args.name)
    settings = AgentHostSettings()
    if "port" not in settings.model_fields_set:
        # The registry's port is the default; AEGIS_AGENT_PORT overrides it.
        settings = settings.model_copy(update={"port": entry.port})
    model_dir = settings.model_dir / entry.name
    serve(
        f"agent-{entry.name}", settings, lambda: AgentComponent(build_agent(entry, model_dir)),
        service_identity(f"agent-{entry.name}", entry.name),
    )

if __name__ == "__main__":
    main()
