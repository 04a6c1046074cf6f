"""The Grafana dashboard shows what the services export: every query names a metric the code
registers, and every metric the code registers is on some panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aegis_domain.registry import default_registry
from aegis_runtime.metrics import PROMETHEUS_NAMES
from agent_services.geo import make_agent
from agent_services.instruments import AgentInstruments
from ingest_service.instruments import IngestInstruments
from router_service.instruments import BatchInstruments, RouterInstruments
from tests.conftest import REPO_ROOT

DASHBOARD = REPO_ROOT / "ecs" / "grafana" / "aegis-mesh.json"
_HISTOGRAM_SERIES = re.compile(r"_(bucket|count|sum)$")
_GROUPING = re.compile(r"\b(?:by|without)\s*\([^)]*\)")


def registered() -> set[str]:
    """Every instrument's Prometheus name, once each service's instruments are made (the
    audit service's, the gRPC ones and the collector's are made when their modules are
    imported)."""
    import aegis_runtime.gc_pauses
    import aegis_runtime.grpc_metrics  # noqa: F401
    import audit_service.instruments  # noqa: F401

    RouterInstruments(default_registry().names)
    BatchInstruments("context")
    AgentInstruments(make_agent(Path("no-models")))
    IngestInstruments("dashboard", list)
    return set(PROMETHEUS_NAMES)


def queried() -> set[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [target["expr"] for panel in panels for target in panel["targets"]]
    # Label names (rpc_service in `by (...)`) are not metrics.
    return {_HISTOGRAM_SERIES.sub("", name) for expr in exprs
            for name in re.findall(r"\b(?:aegis|rpc)_[a-z_]+", _GROUPING.sub("", expr))}


def test_every_query_names_an_exported_metric() -> None:
    names = registered()
    unknown = queried() - names
    # A histogram's series are its name plus _bucket/_count/_sum; the rest must match exactly.
    assert not unknown, f"the dashboard queries metrics no service exports: {sorted(unknown)}"


def test_every_exported_metric_is_on_the_dashboard() -> None:
    missing = registered() - queried()
    assert not missing, f"metrics without a panel: {sorted(missing)}"
