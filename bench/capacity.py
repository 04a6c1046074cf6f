"""What counts as served, for every benchmark: a degraded decision is not throughput.

A rate step passes when no call failed, at most MAX_DEGRADED_SHARE of its decisions were
degraded (made without context or without any agent's signal) and its p99 is within
MAX_P99_MS. A mesh's capacity is the highest throughput of a step that passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aegis.v1 import common_pb2, router_pb2
from aegis_domain.convert import enum_name

MAX_DEGRADED_SHARE = 0.001
MAX_P99_MS = 50.0
DEFINITION = (
    f"highest achieved Score/s of a rate step with no failed call, <= {MAX_DEGRADED_SHARE:.1%} "
    f"of decisions degraded (context or any agent missing) and p99 <= {MAX_P99_MS:g} ms"
)


def missing(decision: common_pb2.Decision, timing: router_pb2.ScoreTiming) -> list[str]:
    """What a decision was made without, as "context:UNAVAILABLE" or "AGENT:STATUS" (TIMEOUT,
    ERROR, NO_MODEL...); empty for a decision that is not degraded."""
    # No GetContext batch served it: it failed or ran out of time.
    gaps = [] if timing.context_batch_size else ["context:UNAVAILABLE"]
    for signal in decision.signals:
        if signal.status != common_pb2.SIGNAL_STATUS_OK:
            gaps.append(f"{signal.agent}:{enum_name(common_pb2.SignalStatus, signal.status)}")
    signalled = {signal.agent for signal in decision.signals}
    gaps += [f"{agent}:MISSING" for agent in decision.degraded_agents if agent not in signalled]
    return gaps


def shortfalls(step: dict[str, Any]) -> list[str]:
    """Why a rate step does not count as served; empty when it does."""
    reasons = []
    if step["errors"]:
        reasons.append(f"failed calls {step['errors']}")
    if step["ok"] == 0 or step["degraded_share"] > MAX_DEGRADED_SHARE:
        reasons.append(f"degraded share {step['degraded_share']}")
    p99 = step["latency_ms"]["p99"]
    if p99 is None or p99 > MAX_P99_MS:
        reasons.append(f"p99 {p99} ms")
    return reasons


def capacity(steps: Iterable[dict[str, Any]]) -> float:
    """The highest throughput among the steps that pass; 0 when none does."""
    return max(
        (s["throughput_per_s"] or 0.0 for s in steps if not shortfalls(s)), default=0.0
    )
