"""Histograms kept in plain Python export exactly as the SDK's own: the same Prometheus series
for the same measurements."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

from aegis_runtime.histogram_cells import CELLS, HistogramCells
from aegis_runtime.metrics import LATENCY_BUCKETS_S, METER, SECONDS, collecting_cells, views


def test_cells_export_the_series_of_the_sdk_s_histogram(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = CollectorRegistry()
    provider = MeterProvider(
        [collecting_cells(PrometheusMetricReader)(registry=registry)], views=views())
    sdk = provider.get_meter(METER).create_histogram("aegis.probe.sdk", unit=SECONDS)
    cells = HistogramCells("aegis.probe.cells", SECONDS, "", LATENCY_BUCKETS_S)
    monkeypatch.setitem(CELLS, cells.name, cells)
    try:
        # Below the first bound, on a bound, inside, above the last.
        for value in (0.0005, 0.003, 0.003, 0.2, 30.0):
            for agent in ("geo", "network"):
                sdk.record(value, {"agent": agent})
                cells.record(agent, value, {"agent": agent})
        text = generate_latest(registry).decode()
    finally:
        provider.shutdown()

    def series(name: str) -> list[str]:
        return sorted(line.removeprefix(name) for line in text.splitlines()
                      if line.startswith(name) and "_created" not in line)

    assert len(series("aegis_probe_sdk_seconds")) == 2 * (len(LATENCY_BUCKETS_S) + 3)
    assert series("aegis_probe_cells_seconds") == series("aegis_probe_sdk_seconds")
