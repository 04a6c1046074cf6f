"""The Prometheus endpoint links a histogram bucket to a trace: an OpenMetrics scrape shows
the exemplar (trace id, span id) of a measurement made inside a span, in its bucket."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from aegis_runtime.metrics import METER, SECONDS, views
from aegis_runtime.prometheus_export import exemplar_reader


def test_an_openmetrics_scrape_shows_the_trace_of_a_bucket() -> None:
    registry = CollectorRegistry()
    reader = exemplar_reader(registry, {"aegis.probe.duration": "aegis_probe_duration_seconds"},
                             METER)
    provider = MeterProvider([reader], views=views(), exemplar_filter=TraceBasedExemplarFilter())
    duration = provider.get_meter(METER).create_histogram("aegis.probe.duration", unit=SECONDS)
    try:
        with trace.get_tracer(__name__).start_as_current_span("slow call") as span:
            duration.record(0.004, {"rpc.method": "Score"})
        duration.record(0.2, {"rpc.method": "Score"})  # outside any trace: no exemplar
        scraped = openmetrics.generate_latest(registry).decode()
        plain = generate_latest(registry).decode()
    finally:
        provider.shutdown()

    trace_id = format(span.get_span_context().trace_id, "032x")
    with_exemplars = [line for line in scraped.splitlines() if "trace_id" in line]
    assert len(with_exemplars) == 1
    assert with_exemplars[0].startswith("aegis_probe_duration_seconds_bucket{")
    assert 'le="0.005"' in with_exemplars[0] and 'rpc_method="Score"' in with_exemplars[0]
    assert f'trace_id="{trace_id}"' in with_exemplars[0]
    # The text format, which Prometheus asks for by default, shows the same series without.
    assert "trace_id" not in plain and 'aegis_probe_duration_seconds_bucket{' in plain
