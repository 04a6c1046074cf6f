"""The capacity definition of every benchmark: a degraded decision is not throughput."""

from __future__ import annotations

from typing import Any

from aegis.v1 import common_pb2
from bench.capacity import capacity, missing, shortfalls
from bench.ceiling import healthy_reply


def step(throughput: float, *, errors: int = 0, degraded: int = 0, ok: int = 1000,
         p99: float | None = 20.0) -> dict[str, Any]:
    return {
        "throughput_per_s": throughput, "ok": ok,
        "errors": {"UNAVAILABLE": errors} if errors else {},
        "degraded_share": degraded / ok if ok else 0.0, "latency_ms": {"p99": p99},
    }


def test_a_clean_step_counts() -> None:
    assert shortfalls(step(300, degraded=1)) == []  # 0.1% degraded is still within


def test_failed_calls_degraded_decisions_or_a_slow_p99_each_disqualify_a_step() -> None:
    assert shortfalls(step(300, errors=1))
    assert shortfalls(step(300, degraded=2))
    assert shortfalls(step(300, p99=50.1))
    assert shortfalls(step(300, ok=0, p99=None))


def test_capacity_is_the_highest_throughput_of_a_step_that_counts() -> None:
    steps = [step(100), step(200), step(300, degraded=500), step(250.5), step(400, errors=3)]
    assert capacity(steps) == 250.5
    assert capacity([step(100, degraded=10)]) == 0.0


def test_a_decision_without_context_or_an_agent_is_degraded() -> None:
    healthy = healthy_reply(["geo", "network"])
    assert missing(healthy.decision, healthy.timing) == []
    blind = healthy_reply(["geo", "network"])
    blind.timing.context_batch_size = 0
    blind.decision.signals[1].status = common_pb2.SIGNAL_STATUS_TIMEOUT
    blind.decision.degraded_agents.append("detection")
    assert missing(blind.decision, blind.timing) == [
        "context:UNAVAILABLE", "network:TIMEOUT", "detection:MISSING"
    ]
