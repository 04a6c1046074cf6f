"""The summary of a replay: counts per action, signal status and error, latency percentiles."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import grpc

from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import enum_name
from router_service.client.rows import Labels
from router_service.policy import CONTEXT_UNAVAILABLE, REQUIRED_AGENT_MISSING

# Counted apart from gRPC codes: rows the reader refused, never sent.
MALFORMED = "MALFORMED"
# Every name a count may have in `--json`, so that a script never meets a missing key.
ACTIONS = sorted(enum_name(pb.Action, v) for v in pb.Action.values() if v != pb.ACTION_UNSPECIFIED)
STATUSES = sorted(enum_name(pb.SignalStatus, v) for v in pb.SignalStatus.values()
                  if v != pb.SIGNAL_STATUS_UNSPECIFIED)


class LatencyHistogram:
    """Percentiles in bounded memory: logarithmic buckets, each 1% wider than the last.

    A replay may be millions of rows; keeping every latency would grow without bound, and
    a 1% relative error is far below the noise of a latency measurement.
    """

    RELATIVE_WIDTH = 0.01
    SMALLEST_MS = 0.001

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf

    def add(self, value_ms: float) -> None:
        self.buckets[self._bucket(value_ms)] += 1
        self.count += 1
        self.total += value_ms
        self.low = min(self.low, value_ms)
        self.high = max(self.high, value_ms)

    def _bucket(self, value_ms: float) -> int:
        if value_ms <= self.SMALLEST_MS:
            return 0
        return 1 + int(math.log(value_ms / self.SMALLEST_MS) / math.log1p(self.RELATIVE_WIDTH))

    def _bucket_value(self, bucket: int) -> float:
        if bucket == 0:
            return self.SMALLEST_MS
        return self.SMALLEST_MS * (1 + self.RELATIVE_WIDTH) ** (bucket - 0.5)

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile (q in [0, 100]) within 1%; None when empty."""
        if not 0 <= q <= 100:
            raise ValueError(f"percentile {q} is outside [0, 100]")
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return min(max(self._bucket_value(bucket), self.low), self.high)
        return self.high

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


def action_name(action: int) -> str:
    """ACTION_ALLOW -> ALLOW."""
    return enum_name(pb.Action, action)


def status_name(status: int) -> str:
    """SIGNAL_STATUS_NO_MODEL -> NO_MODEL."""
    return enum_name(pb.SignalStatus, status)


def ground_truth_class(labels: Labels) -> str:
    """The evaluation class of a labelled row; a takeover outranks an attack IP."""
    if labels.is_account_takeover:
        return "account_takeover"
    if labels.is_attack_ip:
        return "attack_ip"
    return "benign"


def code_name(code: int) -> str:
    """A google.rpc.Code number as its name (14 -> UNAVAILABLE)."""
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return str(status.name)
    return f"CODE_{code}"


@dataclass
class ReplaySummary:
    """Everything a replay reports at the end; fed one outcome at a time."""

    rows: int = 0
    decisions: int = 0
    # Decisions made degraded (counted among the decisions, not the failures): without the
    # user's history, or without the signal of an agent the registry marks required.
    without_context: int = 0
    required_agent_missing: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    signal_statuses: defaultdict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    errors: Counter[str] = field(default_factory=Counter)
    # Ground-truth class -> actions taken, for rows whose input carried labels.
    actions_by_truth: defaultdict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    elapsed_s: float = 0.0
    # Why the replay ended before the input did; empty when it ran to the end.
    stopped: str = ""

    def add_decision(self, decision: pb.Decision, labels: Labels | None) -> None:
        self.decisions += 1
        action = action_name(decision.action)
        self.actions[action] += 1
        for signal in decision.signals:
            self.signal_statuses[signal.agent][status_name(signal.status)] += 1
        self.latency.add(decision.latency_ms)
        codes = {reason.code.split(":", 1)[0] for reason in decision.reasons}
        self.without_context += CONTEXT_UNAVAILABLE in codes
        self.required_agent_missing += REQUIRED_AGENT_MISSING in codes
        if labels is not None:
            self.actions_by_truth[ground_truth_class(labels)][action] += 1

    def add_error(self, code: str) -> None:
        """Count a row without a decision under its gRPC code name (or MALFORMED)."""
        self.errors[code] += 1

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def throughput(self) -> float | None:
        """Decisions per second of wall-clock time, as the client saw them."""
        return self.decisions / self.elapsed_s if self.elapsed_s > 0 else None

    def to_json(self) -> dict[str, Any]:
        """What `aegis replay --json` prints: one object, counts by name, latencies in ms."""
        return {
            "rows": self.rows,
            "decisions": self.decisions,
            "failed": self.failed,
            "without_context": self.without_context,
            "required_agent_missing": self.required_agent_missing,
            "actions": {name: self.actions[name] for name in ACTIONS},
            "signal_statuses": {
                agent: {name: counts[name] for name in STATUSES}
                for agent, counts in sorted(self.signal_statuses.items())
            },
            "errors": dict(sorted(self.errors.items())),
            "actions_by_ground_truth": {
                truth: {name: counts[name] for name in ACTIONS}
                for truth, counts in sorted(self.actions_by_truth.items())
            },
            "latency_ms": {
                "p50": _rounded(self.latency.percentile(50)),
                "p99": _rounded(self.latency.percentile(99)),
                "mean": _rounded(self.latency.mean()),
                "max": _rounded(self.latency.high if self.latency.count else None),
            },
            "elapsed_s": _rounded(self.elapsed_s),
            "throughput_per_s": _rounded(self.throughput()),
            "stopped": self.stopped or None,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
