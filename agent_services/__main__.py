"""`python -m agent_services NAME [NAME ...]`: host one registered agent, or several in one
process (an agent host, at the first one's port)."""

from __future__ import annotations

import argparse

from aegis_domain.registry import default_registry
from aegis_runtime.server import Component, serve
from aegis_runtime.tls import service_identity
from agent_services.base import build_agent
from agent_services.host import AgentComponent, AgentHostComponent, AgentHostSettings


def main() -> None:
    registry = default_registry()
    parser = argparse.ArgumentParser(prog="python -m agent_services")
    parser.add_argument("names", nargs="+", choices=registry.names, metavar="name",
                        help=f"the agents to host (of {', '.join(registry.names)})")
    args = parser.parse_args()
    entries = [registry.get(name) for name in dict.fromkeys(args.names)]
    first = entries[0]
    settings = AgentHostSettings()
    if "port" not in settings.model_fields_set:
        # The registry's port is the default; AEGIS_AGENT_PORT overrides it.
        settings = settings.model_copy(update={"port": first.port})

    def component() -> Component:
        agents = [build_agent(entry, settings.model_dir / entry.name) for entry in entries]
        return AgentComponent(agents[0]) if len(agents) == 1 else AgentHostComponent(agents)

    # A host presents its first agent's identity: the router names that peer for the address.
    serve(f"agent-{'+'.join(e.name for e in entries)}", settings, component,
          service_identity(f"agent-{first.name}", first.name))

if __name__ == "__main__":
    main()
