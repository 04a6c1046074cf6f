"""A Score's hops as the router measured them, from its reply: where an unloaded Score waits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from aegis.v1 import common_pb2, router_pb2
from bench.stats import percentile


def hops(client_ms: float, reply: router_pb2.ScoreResponse) -> dict[str, float]:
    """One Score's hops in ms: the client's latency; `outside router` (the client's latency
    less the router's: the client <-> router hop and the Score servicer); `context`
    (validation and GetContext as the router waited for it); each agent that answered and the
    slowest; `decide` (what the router's decision latency leaves after context and the
    slowest agent: fan-out set-up, combination, policy); `record` (until durable)."""
    decision, timing = reply.decision, reply.timing
    agents = {s.agent: s.latency_ms for s in decision.signals
              if s.status == common_pb2.SIGNAL_STATUS_OK}
    slowest = max(agents.values(), default=0.0)
    router_ms = decision.latency_ms + timing.audit_ms
    return {
        "client": client_ms,
        "outside router": client_ms - router_ms,
        "context": timing.context_ms,
        "slowest agent": slowest,
        **{f"agent {name}": ms for name, ms in sorted(agents.items())},
        "decide": decision.latency_ms - timing.context_ms - slowest,
        "record": timing.audit_ms,
    }


def summarise_hops(samples: Iterable[Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    """Each hop's p50 and p99 (ms) over the Scores, and how many Scores had it."""
    by_hop: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        for hop, ms in sample.items():
            by_hop[hop].append(ms)
    return {hop: {"p50": _rounded(percentile(v, 50)), "p99": _rounded(percentile(v, 99)),
                  "n": len(v)} for hop, v in by_hop.items()}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
