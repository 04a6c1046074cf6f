"""What telemetry decides once: whether tracing is on, and which methods are lanes."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from aegis.v1 import agent_pb2, audit_pb2, router_pb2  # noqa: F401 (their services' descriptors)
from aegis_runtime import telemetry


def test_whether_tracing_is_on_is_asked_of_opentelemetry_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Asked on every batch call: OpenTelemetry's answer reads the environment each time.
    asked = []
    provider = trace.get_tracer_provider()

    def get_tracer_provider() -> trace.TracerProvider:
        asked.append(1)
        return provider

    monkeypatch.setattr(trace, "get_tracer_provider", get_tracer_provider)
    telemetry.tracing_enabled.cache_clear()
    try:
        assert [telemetry.tracing_enabled() for _ in range(3)] == [True] * 3  # conftest's
        assert len(asked) == 1
    finally:
        telemetry.tracing_enabled.cache_clear()


def test_lanes_are_the_methods_whose_requests_carry_a_batch_header() -> None:
    assert telemetry.is_lane("/aegis.v1.AgentService/AssessStream")
    assert telemetry.is_lane("/aegis.v1.AuditService/RecordStream")
    assert telemetry.is_lane("/aegis.v1.AuditService/GetContextStream")
    assert not telemetry.is_lane("/aegis.v1.RouterService/ScoreStream")
    assert not telemetry.is_lane("/aegis.v1.AgentService/AssessBatch")
    assert not telemetry.is_lane("/grpc.health.v1.Health/Watch")
