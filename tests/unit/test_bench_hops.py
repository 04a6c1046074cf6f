"""bench.hops and bench.served: a Score's hops from its reply, histograms between two scrapes."""

from __future__ import annotations

import pytest

from aegis.v1 import common_pb2, router_pb2
from bench.hops import hops
from bench.served import Series, histogram

OK = common_pb2.SIGNAL_STATUS_OK
TIMEOUT = common_pb2.SIGNAL_STATUS_TIMEOUT


def test_hops_split_the_client_latency_along_the_routers_path() -> None:
    reply = router_pb2.ScoreResponse(
        decision=common_pb2.Decision(latency_ms=12.0, signals=[
            common_pb2.AgentSignal(agent="geo", status=OK, latency_ms=4.0),
            common_pb2.AgentSignal(agent="detection", status=OK, latency_ms=6.0),
            # A missing signal's latency is its deadline, not a hop the Score waited for.
            common_pb2.AgentSignal(agent="network", status=TIMEOUT, latency_ms=9.0),
        ]),
        timing=router_pb2.ScoreTiming(context_ms=3.0, audit_ms=5.0),
    )
    assert hops(20.0, reply) == {
        "client": 20.0, "outside router": 3.0, "context": 3.0, "slowest agent": 6.0,
        "agent detection": 6.0, "agent geo": 4.0, "decide": 3.0, "record": 5.0,
    }


def _series(name: str, labels: dict[str, str], buckets: dict[str, float],
            total: float) -> Series:
    series: Series = {
        (f"{name}_bucket", frozenset({**labels, "le": le}.items())): count
        for le, count in buckets.items()
    }
    count = buckets["+Inf"]
    series[(f"{name}_count", frozenset(labels.items()))] = count
    series[(f"{name}_sum", frozenset(labels.items()))] = total
    return series


def test_histogram_counts_only_the_step_and_interpolates_within_buckets() -> None:
    name = "aegis_router_batch_queue_wait_seconds"
    before = _series(name, {"downstream": "geo"}, {"0.001": 10, "0.002": 10, "+Inf": 10}, 0.005)
    after = {
        # 10 more waits under 1 ms, 10 between 1 and 2 ms during the step.
        **_series(name, {"downstream": "geo"}, {"0.001": 20, "0.002": 30, "+Inf": 30}, 0.03),
        # Another downstream's series is not an agent's.
        **_series(name, {"downstream": "record"}, {"0.001": 0, "0.002": 0, "+Inf": 50}, 9.0),
    }
    result = histogram(before, after, name, {"downstream": "*agent"})
    assert result["n"] == 20
    assert result["mean"] == pytest.approx(1.25)
    assert result["p50"] == pytest.approx(1.0)
    assert result["p99"] == pytest.approx(1.98)
    assert histogram(before, after, name, {"downstream": "record"})["p50"] == 2.0


def test_a_histogram_that_recorded_nothing_has_no_quantiles() -> None:
    name = "aegis_audit_commit_duration_seconds"
    series = _series(name, {}, {"0.001": 3, "+Inf": 3}, 0.001)
    assert histogram(series, series, name, {}) == {"n": 0, "mean": None, "p50": None,
                                                  "p99": None}
