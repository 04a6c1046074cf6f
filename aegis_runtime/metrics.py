"""OpenTelemetry metrics: the meter provider every service installs, its exports (a Prometheus
`/metrics` endpoint, OTLP to a collector), the histogram buckets they share, and counters
cheap enough for every Score (CounterCells).

The SDK spends ~5 us of CPU on every measurement (it cleans and hashes the attributes each
time: it has no bound instruments), which over the ~20 counts and timings of one Score would
be several per cent of the mesh's CPU. So counts are kept in plain Python and read by the SDK
when it collects; only latencies go through SDK histograms."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Counter, Meter, Observation
from opentelemetry.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    Histogram,
    MeterProvider,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import SERVICE_NAME, Resource

from aegis_runtime.histogram_cells import CELLS, CellsReader, HistogramCells
from aegis_runtime.telemetry import tracing_enabled

K = TypeVar("K", bound=Hashable)

# Every service's instruments live under this meter (and this name prefix).
METER = "aegis"
SECONDS = "s"
# Latency buckets that resolve 1-100 ms (where every hop's deadline lies), then coarser up to
# the replay's 10 s hop budget.
LATENCY_BUCKETS_S = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1,
    0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

# Batch sizes: every power of two up to the largest batch a router sends.
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

# The Prometheus name of every instrument made here, as the exporter spells it (a counter's
# with _total, a histogram's without _bucket/_count/_sum): what a dashboard or alarm may name.
PROMETHEUS_NAMES: set[str] = set()
# The same instruments' OpenTelemetry names (what OTLP, and CloudWatch behind it, carry).
INSTRUMENT_NAMES: set[str] = set()


# The SDK's histograms' Prometheus family names, by OpenTelemetry name: where the endpoint
# puts back their exemplars (prometheus_export).
HISTOGRAM_FAMILIES: dict[str, str] = {}


def _prometheus_name(name: str, unit: str) -> str:
    return name.replace(".", "_") + ("_seconds" if unit == SECONDS else "")


def _registered(name: str, unit: str, counter: bool = False) -> str:
    INSTRUMENT_NAMES.add(name)
    PROMETHEUS_NAMES.add(_prometheus_name(name, unit) + ("_total" if counter else ""))
    return name


# Each instrument is made once per process, however many components ask for it (tests and
# benchmarks host several scorers or agents in one): the SDK would keep the first of two
# observable instruments of one name and drop the second's callbacks.
_made: dict[str, Any] = {}


def histogram(name: str, description: str) -> HistogramInstrument:
    """A latency histogram, in seconds (buckets: LATENCY_BUCKETS_S), through the SDK (~5 us
    a measurement: histogram_cells for those made many times per Score)."""
    if name not in _made:
        _made[name] = meter().create_histogram(
            _registered(name, SECONDS), unit=SECONDS, description=description)
        HISTOGRAM_FAMILIES[name] = _prometheus_name(name, SECONDS)
    made: HistogramInstrument = _made[name]
    return made


def histogram_cells(
    name: str, unit: str, description: str, bounds: Sequence[float] = LATENCY_BUCKETS_S
) -> HistogramCells:
    """The process's histogram `name` kept in plain Python (aegis_runtime.histogram_cells),
    which every reader configure_metrics installs exports."""
    if name not in CELLS:
        CELLS[name] = HistogramCells(_registered(name, unit), unit, description, bounds)
    return CELLS[name]


def counter(name: str, unit: str, description: str) -> Counter:
    """A counter for rare events, recorded through the SDK (counter_cells for hot paths)."""
    if name not in _made:
        _made[name] = meter().create_counter(
            _registered(name, unit, counter=True), unit=unit, description=description)
    made: Counter = _made[name]
    return made


Callback = Callable[[CallbackOptions], Iterable[Observation]]


def gauge(name: str, callback: Callback, unit: str, description: str) -> None:
    """A level, read by `callback` (and by those of every other component that observes
    `name` in this process) when the SDK collects."""
    if name not in _made:
        callbacks: list[Callback] = []
        meter().create_observable_gauge(
            _registered(name, unit), unit=unit, description=description,
            callbacks=[lambda options: [o for each in callbacks for o in each(options)]])
        _made[name] = callbacks
    _made[name].append(callback)


def counter_cells(
    name: str, unit: str, description: str, attributes: Mapping[K, Mapping[str, str]]
) -> CounterCells[K]:
    """The process's counter `name`, with a cell bound for each of `attributes`."""
    if name not in _made:
        _made[name] = CounterCells(name, unit, description)
    cells: CounterCells[K] = _made[name]
    for key, attrs in attributes.items():
        cells.bind(key, attrs)
    return cells


def meter() -> Meter:
    """The meter of this process's instruments. Before configure_metrics (and in a process
    that never calls it) its instruments record nothing, at the cost of one check."""
    return metrics.get_meter(METER)


def metrics_enabled() -> bool:
    """Whether this process exports metrics (a meter provider is installed: by
    configure_metrics, or by a test that reads them)."""
    return isinstance(metrics.get_meter_provider(), MeterProvider)


def views() -> list[View]:
    """Bucket boundaries of latencies: the SDK's defaults (0, 5, 10, 25, ... in any unit)
    cannot tell 2 ms from 4 ms."""
    return [
        View(instrument_type=Histogram, instrument_unit=SECONDS,
             aggregation=ExplicitBucketHistogramAggregation(LATENCY_BUCKETS_S)),
    ]


R = TypeVar("R", bound=MetricReader)


def collecting_cells(reader: type[R]) -> type[R]:
    """The reader class whose collections include the histograms of cells."""
    made: type[R] = type(reader.__name__, (CellsReader, reader), {"cells_scope": METER})
    return made


def _otlp_reader() -> MetricReader | None:
    """OTEL_METRICS_EXPORTER: none (the default here) or otlp (the collector sidecar on ECS;
    endpoint and interval from the standard OTEL_* variables)."""
    choice = os.environ.get("OTEL_METRICS_EXPORTER", "none").strip().lower()
    if choice in ("", "none", "prometheus"):
        return None
    if choice == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return collecting_cells(PeriodicExportingMetricReader)(OTLPMetricExporter())
    raise ValueError(f"OTEL_METRICS_EXPORTER={choice!r}: expected none, otlp or prometheus")


def configure_metrics(service: str, host: str, port: int | None) -> MeterProvider | None:
    """Install this process's meter provider: a Prometheus `/metrics` endpoint on
    host:`port` when a port is given, OTLP export when OTEL_METRICS_EXPORTER=otlp. With
    neither nothing is installed, and recording costs next to nothing."""
    readers: list[MetricReader] = []
    if port is not None:
        from prometheus_client import REGISTRY, start_http_server

        from aegis_runtime.prometheus_export import exemplar_reader

        # The reader's families are served from prometheus_client's registry.
        readers.append(exemplar_reader(REGISTRY, HISTOGRAM_FAMILIES, METER))
        start_http_server(port, addr=host)
    if (otlp := _otlp_reader()) is not None:
        readers.append(otlp)
    if not readers:
        return None
    name = os.environ.get("OTEL_SERVICE_NAME", service)
    provider = MeterProvider(
        metric_readers=readers, resource=Resource.create({SERVICE_NAME: name}), views=views(),
        # Exemplars link a histogram bucket to a trace (OTLP carries them); without traces
        # there is nothing to link, and the check would cost every measurement.
        exemplar_filter=TraceBasedExemplarFilter() if tracing_enabled()
        else AlwaysOffExemplarFilter(),
    )
    metrics.set_meter_provider(provider)
    return provider


class CounterCells(Generic[K]):
    """A monotonic counter whose attribute sets are bound up front, one cell per key:
    `cells[key] += n` is a dict update, and the SDK reads the totals as an observable counter
    when it collects (every cell, zeros too, so that a series exists before its first count).
    Written on the serving thread, read on the exporter's: a read sees each cell whole."""

    def __init__(self, name: str, unit: str, description: str) -> None:
        self._attributes: dict[K, Mapping[str, str]] = {}
        self.cells: dict[K, float] = {}
        meter().create_observable_counter(
            _registered(name, unit, counter=True), callbacks=[self._observe], unit=unit,
            description=description,
        )

    def bind(self, key: K, attributes: Mapping[str, str]) -> None:
        """One more cell (at start-up: a cell bound while serving could miss a collection)."""
        self._attributes.setdefault(key, attributes)
        self.cells.setdefault(key, 0.0)

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, self._attributes[key]) for key, value in self.cells.items()]


def bind(
    names: Sequence[str], key: str, extra: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """Attribute sets made once, one per value of `key`: recording then builds no dict."""
    return {name: {**(extra or {}), key: name} for name in names}
