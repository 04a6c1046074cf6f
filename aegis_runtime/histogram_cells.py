"""Histograms kept in plain Python, for measurements made many times per Score: a measurement
is a bisect and two additions (~0.5 us), where the SDK's histogram spends 5-10 us (it cleans
and hashes the attributes on every call). Every reader of this process adds their data points
to what it collects (CellsReader), so they export like the SDK's own histograms: the same
Prometheus series, the same OTLP points (without exemplars: the slow-call log names traces)."""

from __future__ import annotations

import bisect
import time
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope


class _Cell:
    """One attribute set's bucket counts (the last bucket: above every bound), sum, min, max."""

    __slots__ = ("counts", "max", "min", "sum")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")


class HistogramCells:
    """One histogram: a cell per attribute set, made at its first measurement. Written on the
    serving thread, read on the exporter's: a read may miss a measurement being made, never
    see a torn one."""

    def __init__(self, name: str, unit: str, description: str, bounds: Sequence[float]) -> None:
        self.name, self.unit, self.description = name, unit, description
        self._bounds = tuple(bounds)
        self._cells: dict[Hashable, _Cell] = {}
        self._attributes: dict[Hashable, Mapping[str, Any]] = {}
        self._started_ns = time.time_ns()

    def record(self, key: Hashable, value: float, attributes: Mapping[str, Any]) -> None:
        """One measurement of the attribute set `attributes`, which `key` stands for."""
        cell = self._cells.get(key)
        if cell is None:
            self._attributes[key] = attributes
            cell = self._cells[key] = _Cell(len(self._bounds) + 1)
        # Bucket i holds (bounds[i-1], bounds[i]], as the SDK's explicit buckets do.
        cell.counts[bisect.bisect_left(self._bounds, value)] += 1
        cell.sum += value
        cell.min = min(cell.min, value)
        cell.max = max(cell.max, value)

    def metric(self, now_ns: int) -> Metric | None:
        points = []
        for key, cell in list(self._cells.items()):
            counts = list(cell.counts)
            points.append(HistogramDataPoint(
                attributes=dict(self._attributes[key]), start_time_unix_nano=self._started_ns,
                time_unix_nano=now_ns, count=sum(counts), sum=cell.sum, bucket_counts=counts,
                explicit_bounds=self._bounds, min=cell.min, max=cell.max,
            ))
        if not points:
            return None
        return Metric(self.name, self.description, self.unit,
                      Histogram(points, AggregationTemporality.CUMULATIVE))


# Every histogram of cells in this process, by name (what the readers add).
CELLS: dict[str, HistogramCells] = {}


def with_cells(data: MetricsData | None, scope: str) -> MetricsData | None:
    """`data` with every histogram of cells that holds a measurement, under `scope`."""
    now_ns = time.time_ns()
    made = [m for cells in list(CELLS.values()) if (m := cells.metric(now_ns)) is not None]
    if not made:
        return data
    resources = list(data.resource_metrics) if data is not None else []
    first = resources[0] if resources else ResourceMetrics(Resource.get_empty(), [], "")
    scope_metrics = ScopeMetrics(InstrumentationScope(scope), made, "")
    resources[:1] = [ResourceMetrics(first.resource, [*first.scope_metrics, scope_metrics],
                                     first.schema_url)]
    return MetricsData(resources)


class CellsReader:
    """Mixed into a MetricReader (before it): what it collects includes the histograms of
    cells. `_receive_metrics` is the method the SDK has each reader implement."""

    cells_scope = ""

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        super()._receive_metrics(  # type: ignore[misc]
            with_cells(metrics_data, self.cells_scope), timeout_millis, **kwargs)
