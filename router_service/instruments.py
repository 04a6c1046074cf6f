"""The router's metrics: Scores by outcome and action, per-agent signals, degraded decisions,
decision rates over a sliding window, and its batch calls per downstream."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable, Sequence

import grpc
from opentelemetry.metrics import CallbackOptions, Observation

from aegis.v1 import common_pb2
from aegis_domain.types import Action, SignalStatus
from aegis_runtime.errors import ServiceError
from aegis_runtime.metrics import (
    SECONDS,
    SIZE_BUCKETS,
    CounterCells,
    bind,
    counter_cells,
    gauge,
    histogram,
    histogram_cells,
)
from router_service.policy import CONTEXT_UNAVAILABLE

# The decisions the rate gauges look back over: enough for a stable rate, few enough that a
# shift shows within minutes at a few Scores a second.
RATE_WINDOW = 1000
# The actions whose share of recent decisions is watched (ALLOW is the rest).
WATCHED_ACTIONS = (Action.CHALLENGE, Action.BLOCK_TEMPORARY, Action.ESCALATE)
# Outcomes of a Score that did not fail: a new decision, or the one recorded before (repeat).
DECIDED = "decided"
REPEAT = "repeat"
# The statuses a failed Score ends with (aegis_runtime.errors).
FAILURES = (
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL,
)
CONTEXT = "context"


class BatchInstruments:
    """The batch calls toward one downstream (an agent, GetContext, the audit Record): the
    requests each carried (the histogram's count: the calls; its sum: the requests), and the
    longest wait of one of them for a free call slot."""

    def __init__(self, downstream: str) -> None:
        self._key = downstream
        self._attrs = {"downstream": downstream}
        self._size = histogram_cells(
            "aegis.router.batch.size", "{request}", "Requests per batch call, by downstream.",
            SIZE_BUCKETS)
        self._wait = histogram_cells(
            "aegis.router.batch.queue_wait", SECONDS,
            "The longest wait of a batch call's requests for a free call slot, by downstream.")

    def sent(self, size: int, waits: Iterable[float]) -> None:
        self._size.record(self._key, size, self._attrs)
        self._wait.record(self._key, max(waits, default=0.0), self._attrs)


class RouterInstruments:
    """Recorded once per Score, from its finished decision: a repeat (the event's recorded
    decision) counts as one Score and no signal, and a record retried counts once."""

    def __init__(self, agents: Sequence[str]) -> None:
        self.in_flight = 0
        gauge("aegis.router.scores.in_flight", self._in_flight, "{score}", "Scores being served.")
        self._scores: CounterCells[tuple[str, int] | grpc.StatusCode] = counter_cells(
            "aegis.router.scores", "{score}",
            "Scores answered, by outcome (decided, repeat, or the failure's gRPC status) and "
            "action.",
            {**{(o, int(a)): {"outcome": o, "action": a.name}
                for o in (DECIDED, REPEAT) for a in Action},
             **{code: {"outcome": code.name} for code in FAILURES}},
        )
        self._duration = histogram(
            "aegis.router.score.duration", "Score latency in the router, by outcome."
        )
        self._outcome = bind([DECIDED, REPEAT], "outcome") | {
            code: {"outcome": code.name} for code in FAILURES}
        # Four a Score: kept in cells (the SDK's histogram costs 5-10 us a measurement).
        self._signal_duration = histogram_cells(
            "aegis.router.agent.duration", SECONDS,
            "From fan-out to each agent's signal, by agent and status.",
        )
        self._signal_attrs = {
            (agent, int(s)): {"agent": agent, "status": s.name}
            for agent in agents for s in SignalStatus
        }
        self._signals: CounterCells[tuple[str, int]] = counter_cells(
            "aegis.router.agent.signals", "{signal}",
            "Agent signals by agent and status (OK, TIMEOUT, ERROR, UNAVAILABLE, NO_MODEL).",
            self._signal_attrs,
        )
        self._without_context: CounterCells[None] = counter_cells(
            "aegis.router.decisions.without_context", "{decision}",
            "Decisions made without the user's context (GetContext failed or late).", {None: {}},
        )
        self._degraded: CounterCells[str] = counter_cells(
            "aegis.router.decisions.degraded", "{decision}",
            "Degraded decisions by reason: context, or the agent whose signal is missing (a "
            "decision missing two counts under both).", bind([*agents, CONTEXT], "reason"),
        )
        gauge("aegis.router.decision.rate", self._rates, "1",
              f"Share of the last {RATE_WINDOW} decisions taking each action.")
        self._recent: collections.deque[int] = collections.deque(maxlen=RATE_WINDOW)
        self._watched = {int(a): {"action": a.name} for a in WATCHED_ACTIONS}

    def scored(self, decision: common_pb2.Decision, repeat: bool, started: float) -> None:
        elapsed = time.perf_counter() - started
        if repeat:
            self._scores.cells[REPEAT, decision.action] += 1
            self._duration.record(elapsed, self._outcome[REPEAT])
            return
        self._scores.cells[DECIDED, decision.action] += 1
        self._duration.record(elapsed, self._outcome[DECIDED])
        self._recent.append(decision.action)
        signals = self._signals.cells
        for signal in decision.signals:
            key = (signal.agent, signal.status)
            signals[key] += 1
            self._signal_duration.record(key, signal.latency_ms / 1000, self._signal_attrs[key])
        degraded = self._degraded.cells
        for agent in decision.degraded_agents:
            degraded[agent] += 1
        if any(r.code == CONTEXT_UNAVAILABLE for r in decision.reasons):
            self._without_context.cells[None] += 1
            degraded[CONTEXT] += 1

    def failed(self, exc: ServiceError, started: float) -> None:
        code = exc.code if exc.code in self._outcome else grpc.StatusCode.INTERNAL
        self._scores.cells[code] += 1
        self._duration.record(time.perf_counter() - started, self._outcome[code])

    def _in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.in_flight)]

    def _rates(self, options: CallbackOptions) -> Iterable[Observation]:
        recent = list(self._recent)
        total = len(recent) or 1
        counts = collections.Counter(recent)
        return [Observation(counts[action] / total, attrs)
                for action, attrs in self._watched.items()]
