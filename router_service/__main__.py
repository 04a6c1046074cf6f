"""`python -m router_service`: the Score API."""

from __future__ import annotations

import sys

from aegis_domain.registry import default_registry
from aegis_runtime.artifacts import ArtifactError
from aegis_runtime.server import serve
from router_service.component import RouterComponent
from router_service.policy import PolicyError, load_policy
from router_service.settings import RouterSettings
from router_service.stacking import load_stacker


def main() -> None:
    settings = RouterSettings()
    try:
        policy = load_policy(settings.policy_path)
        stacker = load_stacker(settings.combiner_path)
    except (PolicyError, ArtifactError) as exc:
        # A bad policy or combiner refuses to start, naming the problem.
        sys.exit(f"router: refusing to start: {exc}")
    registry = default_registry()
    serve("router", settings, lambda: RouterComponent(settings, registry, policy, stacker))


if __name__ == "__main__":
    main()
