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
from aegis_runtime.metrics import ITEMS, SECONDS, bind, meter
from router_service.policy import CONTEXT_UNAVAILABLE

# The decisions the rate gauges look back over: enough for a stable rate, few enough that a
# shift shows within minutes at a few Scores a second.
RATE_WINDOW = 1000
# The actions whose share of recent decisions is watched (ALLOW is the rest).
WATCHED_ACTIONS = (Action.CHALLENGE, Action.BLOCK_TEMPORARY, Action.ESCALATE)
# Outcomes of a Score that did not fail: a new decision, or the one recorded before (repeat).
DECIDED = "decided"
REPEAT = "repeat"


class BatchInstruments:
    """Batch sizes and queue waits of the calls toward one downstream (an agent, GetContext,
    the audit Record)."""

    def __init__(self, downstream: str) -> None:
        m = meter()
        self._attrs = {"downstream": downstream}
        self._size = m.create_histogram(
            "aegis.router.batch.size", unit=ITEMS,
            description="Requests per batch call, by downstream.",
        )
        self._wait = m.create_histogram(
            "aegis.router.batch.queue_wait", unit=SECONDS,
            description="Time a request waited for a free call slot, by downstream.",
        )

    def sent(self, size: int, waits: Iterable[float]) -> None:
        self._size.record(size, self._attrs)
        for wait in waits:
            self._wait.record(wait, self._attrs)


class RouterInstruments:
    """Recorded once per Score, from its finished decision: a repeat (the event's recorded
    decision) counts as one Score and no signal, and a record retried counts once."""

    def __init__(self, agents: Sequence[str]) -> None:
        m = meter()
        self.in_flight = m.create_up_down_counter(
            "aegis.router.scores.in_flight", unit="{score}", description="Scores being served."
        )
        self._scores = m.create_counter(
            "aegis.router.scores", unit="{score}",
            description="Scores answered, by outcome (decided, repeat, or the failure's gRPC "
            "status) and action.",
        )
        self._duration = m.create_histogram(
            "aegis.router.score.duration", unit=SECONDS,
            description="Score latency in the router, by outcome.",
        )
        self._signal_duration = m.create_histogram(
            "aegis.router.agent.duration", unit=SECONDS,
            description="From fan-out to each agent's signal, by agent and status.",
        )
        self._signals = m.create_counter(
            "aegis.router.agent.signals", unit="{signal}",
            description="Agent signals by agent and status (OK, TIMEOUT, ERROR, UNAVAILABLE, "
            "NO_MODEL).",
        )
        self._without_context = m.create_counter(
            "aegis.router.decisions.without_context", unit="{decision}",
            description="Decisions made without the user's context (GetContext failed or late).",
        )
        self._degraded = m.create_counter(
            "aegis.router.decisions.degraded", unit="{decision}",
            description="Degraded decisions by reason: context, or the agent whose signal is "
            "missing (a decision missing two counts under both).",
        )
        m.create_observable_gauge(
            "aegis.router.decision.rate", callbacks=[self._rates], unit="1",
            description=f"Share of the last {RATE_WINDOW} decisions taking each action.",
        )
        self._decided = {
            int(a): {"outcome": DECIDED, "action": a.name} for a in Action
        }
        self._repeat = {int(a): {"outcome": REPEAT, "action": a.name} for a in Action}
        self._outcome = bind([DECIDED, REPEAT], "outcome")
        self._signal = {
            (agent, int(s)): {"agent": agent, "status": s.name}
            for agent in agents for s in SignalStatus
        }
        self._failed = {code: {"outcome": code.name} for code in grpc.StatusCode}
        self._missing = bind([*agents, "context"], "reason")
        self._recent: collections.deque[int] = collections.deque(maxlen=RATE_WINDOW)
        self._watched = {int(a): {"action": a.name} for a in WATCHED_ACTIONS}

    def scored(self, decision: common_pb2.Decision, repeat: bool, started: float) -> None:
        elapsed = time.perf_counter() - started
        if repeat:
            self._scores.add(1, self._repeat[decision.action])
            self._duration.record(elapsed, self._outcome[REPEAT])
            return
        self._scores.add(1, self._decided[decision.action])
        self._duration.record(elapsed, self._outcome[DECIDED])
        self._recent.append(decision.action)
        for signal in decision.signals:
            attrs = self._signal[signal.agent, signal.status]
            self._signals.add(1, attrs)
            self._signal_duration.record(signal.latency_ms / 1000, attrs)
        for agent in decision.degraded_agents:
            self._degraded.add(1, self._missing[agent])
        if any(r.code == CONTEXT_UNAVAILABLE for r in decision.reasons):
            self._without_context.add(1)
            self._degraded.add(1, self._missing["context"])

    def failed(self, exc: ServiceError, started: float) -> None:
        attrs = self._failed[exc.code]
        self._scores.add(1, attrs)
        self._duration.record(time.perf_counter() - started, attrs)

    def _rates(self, options: CallbackOptions) -> Iterable[Observation]:
        recent = list(self._recent)
        total = len(recent) or 1
        counts = collections.Counter(recent)
        return [Observation(counts[action] / total, attrs)
                for action, attrs in self._watched.items()]
