"""`python -m router_service`: the Score API."""

from __future__ import annotations

import sys

from aegis_domain.registry import default_registry
from aegis_runtime.server import serve
from aegis_runtime.tls import service_identity
from router_service.builder import LOAD_ERRORS, load_rules
from router_service.component import RouterComponent
from router_service.settings import RouterSettings


def main() -> None:
    settings = RouterSettings()
    try:
        policy, combiner = load_rules(settings)
    except LOAD_ERRORS as exc:
        # A bad policy or combiner refuses to start, naming the problem.
        sys.exit(f"router: refusing to start: {exc}")
    registry = default_registry()
    tls = service_identity("router", "router")
    serve(
        "router", settings, lambda: RouterComponent(settings, registry, policy, combiner, tls), tls
    )


if __name__ == "__main__":
    main()
