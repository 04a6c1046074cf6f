"""The Prometheus `/metrics` endpoint: OpenTelemetry's Prometheus reader (with the histogram
cells) behind a collector that puts back the exemplars its translation drops
(opentelemetry-exporter-prometheus 0.66b2 hands prometheus_client each bucket's count only),
so that an OpenMetrics scrape links a histogram bucket to a trace. Only the SDK's histograms
carry exemplars, and only where traces are on (the exemplar filter is trace-based)."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import Histogram, MetricsData
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.samples import Exemplar, Sample

from aegis_runtime.histogram_cells import CellsReader

# The labels the exporter adds to every series beside the attributes.
_SCOPE_LABEL_PREFIX = "otel_scope_"
_NOT_A_LABEL_CHARACTER = re.compile(r"[^a-zA-Z0-9_]")

# (family name, labels but le and the scope's) -> le -> the bucket's latest exemplar
Exemplars = dict[tuple[str, frozenset[tuple[str, str]]], dict[str, Exemplar]]


def _label_key(labels: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    return frozenset((_NOT_A_LABEL_CHARACTER.sub("_", key), str(value))
                     for key, value in labels.items())


class ExemplarKeepingReader(CellsReader, PrometheusMetricReader):
    """Keeps each histogram bucket's latest exemplar as it collects (the SDK's reservoir
    holds one a bucket, and forgets it at each collection)."""

    def __init__(self, registry: CollectorRegistry, family_names: Mapping[str, str],
                 scope: str) -> None:
        super().__init__(registry=registry)
        self.cells_scope = scope
        self.exemplars: Exemplars = {}
        self._family_names = family_names

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        if metrics_data is not None:
            self._keep_exemplars(metrics_data)
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)

    def _keep_exemplars(self, data: MetricsData) -> None:
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    family = self._family_names.get(metric.name)
                    if family is None or not isinstance(metric.data, Histogram):
                        continue
                    for point in metric.data.data_points:
                        bounds = [*map(str, point.explicit_bounds), "+Inf"]
                        for exemplar in point.exemplars:
                            if exemplar.trace_id is None or exemplar.span_id is None:
                                continue
                            le = bounds[bisect.bisect_left(point.explicit_bounds, exemplar.value)]
                            buckets = self.exemplars.setdefault(
                                (family, _label_key(point.attributes or {})), {})
                            buckets[le] = Exemplar(
                                {"trace_id": format(exemplar.trace_id, "032x"),
                                 "span_id": format(exemplar.span_id, "016x")},
                                exemplar.value, exemplar.time_unix_nano / 1e9)


class _WithExemplars:
    """A prometheus_client collector: the reader's families, each histogram bucket with the
    exemplar kept for it (shown by an OpenMetrics scrape)."""

    def __init__(self, inner: CollectorRegistry, reader: ExemplarKeepingReader) -> None:
        self._inner = inner
        self._reader = reader

    def describe(self) -> list[Family]:
        # Registering must not collect: the reader has no meter provider yet.
        return []

    def collect(self) -> Iterator[Family]:
        for family in self._inner.collect():  # the reader collects, keeping exemplars
            if family.type == "histogram":
                family.samples = [self._exemplified(family.name, s) for s in family.samples]
            yield family

    def _exemplified(self, family: str, sample: Sample) -> Sample:
        if not sample.name.endswith("_bucket"):
            return sample
        labels = {k: v for k, v in sample.labels.items()
                  if k != "le" and not k.startswith(_SCOPE_LABEL_PREFIX)}
        exemplar = self._reader.exemplars.get((family, _label_key(labels)), {}).get(
            sample.labels["le"])
        return sample if exemplar is None else sample._replace(exemplar=exemplar)


def exemplar_reader(
    registry: CollectorRegistry, family_names: Mapping[str, str], scope: str
) -> ExemplarKeepingReader:
    """A reader whose families `registry` serves with their exemplars; `family_names`: each
    histogram's Prometheus family name by its OpenTelemetry name."""
    inner = CollectorRegistry(auto_describe=False)
    reader = ExemplarKeepingReader(inner, family_names, scope)
    registry.register(_WithExemplars(inner, reader))
    return reader
