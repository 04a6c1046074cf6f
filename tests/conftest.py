"""Shared test set-up: one in-memory span exporter for the whole session, the RBA fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aegis_runtime.metrics import collecting_cells, views

REPO_ROOT = Path(__file__).resolve().parents[1]
RBA_DIR = REPO_ROOT.parent / "shared" / "data" / "rba"

# A tracer provider can be installed once per process; installing it before any server exists
# lets every test that starts servers see its spans.
SPANS = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_provider)
# Likewise one meter provider: every test that serves records metrics (so a fault in the
# instruments fails the test that reaches it), and a test can read them.
METRICS = collecting_cells(InMemoryMetricReader)()
metrics.set_meter_provider(MeterProvider([METRICS], views=views()))


# The caller's cluster settings (a developer's second cluster, say) must not reach the tests:
# they would move the ports that tests and rendered artifacts expect. Integration tests set
# their own offset on top.
_CALLER_CLUSTER_ENV = (
    "AEGIS_CLUSTER_PORT_OFFSET", "AEGIS_CLUSTER_AGENT_HOSTS", "AEGIS_ROUTER_ADDR",
    "AEGIS_AUDIT_ADDR",
    "AEGIS_TLS_DIR", "AEGIS_TLS_NAME", "AEGIS_TLS_CA_PEM", "AEGIS_TLS_CERT_PEM",
    "AEGIS_TLS_KEY_PEM",
)


@pytest.fixture(autouse=True)
def no_caller_cluster_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CALLER_CLUSTER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    SPANS.clear()
    return SPANS


def metric_points(name: str) -> list[tuple[dict[str, object], float]]:
    """(attributes, value) of each point of the OpenTelemetry metric `name` so far: a
    counter's total, a histogram's count."""
    data = METRICS.get_metrics_data()
    return [
        (dict(point.attributes or {}), getattr(point, "value", getattr(point, "count", 0)))
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics if metric.name == name
        for point in metric.data.data_points
    ]


@pytest.fixture
def rba_dir() -> Path:
    """The RBA fixtures beside the project (never copied in); skips when ../shared is absent."""
    if not RBA_DIR.is_dir():
        pytest.skip(f"RBA fixtures not found at {RBA_DIR} (../shared is absent on this machine)")
    return RBA_DIR
