"""One Score, start to finish: context, fan-out, combination, policy, durable audit."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import grpc

from aegis.v1 import audit_pb2, common_pb2, router_pb2
from aegis_domain.convert import reason_to_proto, seconds_to_timestamp, signal_to_proto
from aegis_domain.digest import event_digest
from aegis_domain.types import AgentSignal, Reason, Velocity
from aegis_domain.validation import TimeWindow, validate_event
from aegis_runtime.errors import AlreadyExists, ServiceError, Unavailable
from aegis_runtime.grpc_metrics import client_call
from aegis_runtime.logging import Throttled, current_trace_id
from aegis_runtime.telemetry import batch_call_span, method_path
from router_service.batching import Batched, Batcher, BatchSizeMismatch
from router_service.combine import Combiner, combine
from router_service.context_view import (
    SERVED_CONTEXT_STREAM,
    SERVED_CONTEXTS,
    ServedContext,
    ServedContexts,
    served_velocity,
)
from router_service.deadline import Deadline
from router_service.drivers import drivers
from router_service.fanout import AgentClient, assess_all, assess_request
from router_service.instruments import BatchInstruments, RouterInstruments
from router_service.lane import batch_method
from router_service.policy import Policy, PolicyInputs, RiskThresholds
from router_service.settings import RouterSettings
from router_service.traffic_budget import TrafficBudget
from router_service.wire import BatchFraming

log = logging.getLogger(__name__)
# Once per Score that lost its context or its record: at most a line a second each.
_failures = Throttled(log)

# The learned combiner's key among the decision's model versions.
COMBINER = "combiner"
_AUDIT_SERVICE = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name
GET_CONTEXT_BATCH = method_path(_AUDIT_SERVICE, "GetContextBatch")
RECORD_BATCH = method_path(_AUDIT_SERVICE, "RecordBatch")
_RECORD_ITEMS = BatchFraming(audit_pb2.RecordBatchRequest)
# Agent reasons quoted in the decision, beside the policy's own.
MAX_AGENT_REASONS = 5


class AuditClient(Protocol):
    """What scoring needs of the audit service: RawAuditClient, or a direct call."""

    def GetContextBatch(
        self, request: audit_pb2.GetContextBatchRequest, timeout: float,
        metadata: Sequence[tuple[str, str]],
    ) -> Awaitable[ServedContexts]: ...

    def RecordBatch(
        self, request: bytes, timeout: float, metadata: Sequence[tuple[str, str]],
    ) -> Awaitable[audit_pb2.RecordBatchResponse]: ...


class RawAuditClient:
    """The audit service over a channel, its RecordBatch sent as the bytes scoring assembled
    (wire.BatchFraming: a record, context and all, is serialized once) and its contexts read
    as bytes (context_view): on lanes of streams that live `stream_max_age_s` each, or
    (None) one unary call a batch."""

    def __init__(self, channel: grpc.aio.Channel, stream_max_age_s: float | None) -> None:
        self._contexts = batch_method(
            channel, GET_CONTEXT_BATCH, SERVED_CONTEXTS, SERVED_CONTEXT_STREAM, stream_max_age_s,
        )
        self.RecordBatch = batch_method(
            channel, RECORD_BATCH, audit_pb2.RecordBatchResponse,
            audit_pb2.RecordStreamResponse, stream_max_age_s,
        )

    def GetContextBatch(
        self, request: audit_pb2.GetContextBatchRequest, timeout: float,
        metadata: Sequence[tuple[str, str]],
    ) -> Awaitable[ServedContexts]:
        return self._contexts(request.SerializeToString(), timeout=timeout, metadata=metadata)


_STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class RecordRefused(Exception):
    """The audit service refused one record of a batch (the others may have gone through)."""

    def __init__(self, error: common_pb2.ItemError) -> None:
        super().__init__(error.message)
        self.code = _STATUS_BY_NUMBER.get(error.code, grpc.StatusCode.UNKNOWN)


class ContextForgotten(Unavailable):
    """The audit service refused a record's context_ref: it no longer holds that context."""


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() == grpc.StatusCode.UNAVAILABLE
    return isinstance(exc, RecordRefused) and exc.code == grpc.StatusCode.UNAVAILABLE


def _record_failure(exc: Exception) -> str:
    """Why a record was not acknowledged, in a few words."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code().name
    if isinstance(exc, RecordRefused):
        return f"{exc.code.name}: {exc}"
    if isinstance(exc, TimeoutError):
        return "no acknowledgement within the deadline"
    return repr(exc)


@dataclass(frozen=True, slots=True)
class Scored:
    """A durable decision, and how it was served. `repeat`: the event id had been decided
    before, and `decision` is the one recorded then."""

    decision: common_pb2.Decision
    timing: router_pb2.ScoreTiming
    repeat: bool = False


class Scorer:
    """Scores validated events. Holds long-lived clients; keeps no per-user state."""

    def __init__(
        self,
        settings: RouterSettings,
        policy: Policy,
        audit: AuditClient,
        agents: list[AgentClient],
        combiner: Combiner | None = None,
    ) -> None:
        self.settings = settings
        self.combiner = combiner
        self.policy = policy
        self.audit = audit
        self.agents = agents
        self.weights = {c.entry.name: c.entry.weight for c in agents}
        self.required = frozenset(c.entry.name for c in agents if c.entry.required)
        self.metrics = RouterInstruments([c.entry.name for c in agents])
        self.budget = TrafficBudget(policy, combiner, settings.budget_window,
                                    settings.budget_min_decisions, settings.budget_max_shift)
        # (policy, thresholds, the policy at them): rebuilt only when either changes.
        self._acting = (policy, policy.thresholds, policy)
        limits = settings.batch_limits()
        self.contexts: Batcher[audit_pb2.GetContextRequest, ServedContext] = Batcher(
            self._get_contexts, limits, observer=BatchInstruments("context")
        )
        # Items are framed RecordRequests (wire.BatchFraming).
        self.records: Batcher[bytes, audit_pb2.RecordResult] = Batcher(
            self._record_batch, limits, size=len, observer=BatchInstruments("record")
        )

    def live_window(self) -> TimeWindow:
        now = time.time()
        return TimeWindow(now - self.settings.max_event_age_s, now + self.settings.max_clock_skew_s)

    def replay_window(self) -> TimeWindow:
        # Replays carry history: anything since 2000-01-01, never the future.
        return TimeWindow(946_684_800.0, time.time() + self.settings.max_clock_skew_s)

    async def score(
        self, event: common_pb2.LoginEvent, deadline: Deadline, window: TimeWindow,
        *, bulk: bool = False,
    ) -> Scored:
        """_score, measured: once per Score, however many record attempts it took."""
        started = time.perf_counter()
        self.metrics.in_flight += 1
        try:
            scored = await self._score(event, deadline, window, bulk)
        except ServiceError as exc:
            self.metrics.failed(exc, started)
            raise
        finally:
            self.metrics.in_flight -= 1
        self.metrics.scored(scored.decision, scored.repeat, started)
        return scored

    async def _score(
        self, event: common_pb2.LoginEvent, deadline: Deadline, window: TimeWindow, bulk: bool
    ) -> Scored:
        """Raises InvalidArgument for a bad event, Unavailable when it cannot be audited,
        AlreadyExists when its event id was decided for another login. An event id decided
        before gets that decision back (a repeat), whether GetContext or Record finds it.

        `bulk` (ScoreStream): GetContext and every agent may take up to replay_hop_deadline_ms
        instead of their live limits, so that a replay waits for a busy mesh rather than
        deciding without it; the same agents and context decide, only the waiting differs."""
        started = time.perf_counter()
        validate_event(event, window)
        reserve_s = self.settings.audit_reserve_ms / 1000
        hop_cap_s = self.settings.replay_hop_deadline_ms / 1000 if bulk else None
        timing = router_pb2.ScoreTiming()

        context_cap_s = self.settings.context_timeout_ms / 1000 if hop_cap_s is None else hop_cap_s
        context = await self._context(event, deadline, context_cap_s, reserve_s, timing)
        timing.context_ms = (time.perf_counter() - started) * 1000
        if context is not None and context.HasField("decided"):
            return Scored(context.decided, timing, repeat=True)
        context_available = context is not None
        # Serialized as the audit service sent it: an empty one (b"") when there is none.
        served = context.context if context is not None else b""
        signals = await assess_all(
            self.agents,
            assess_request(event, served),
            deadline,
            reserve_s,
            hop_cap_s,
        )
        velocity = served_velocity(served) if context_available else Velocity()
        decision = self.decide(event, velocity, context_available, signals)
        if (not bulk and event.login_successful
                and len(decision.degraded_agents) < len(decision.signals)):
            # Live successful logins with at least one signal: the budget is a share of
            # legitimate logins, and failed ones are where attack waves (stuffing, spraying)
            # are; bulk replays of history are not today's traffic.
            self.budget.observe(decision.risk)
        decided = time.perf_counter()
        decision.latency_ms = (decided - started) * 1000
        # Built inside its request: a record made first would be copied into it once more.
        request = audit_pb2.RecordRequest()
        request.record.decision.CopyFrom(decision)
        request.record.event.CopyFrom(event)
        request.record.environment = self.settings.environment
        if context is not None and context.context_ref:
            # The audit service writes the context it served: no need to send it back.
            request.context_ref = context.context_ref
        else:
            request.record.context.MergeFromString(served)
        try:
            recorded = await self._record(_RECORD_ITEMS.item(request), deadline, timing)
        except ContextForgotten:
            # It no longer holds that context (evicted, restarted, another task): send it.
            request.ClearField("context_ref")
            request.record.context.MergeFromString(served)
            recorded = await self._record(_RECORD_ITEMS.item(request), deadline, timing)
        timing.audit_ms = (time.perf_counter() - decided) * 1000
        if recorded.HasField("decided"):
            # Another Score of this event was recorded first (a race): its decision stands.
            return Scored(recorded.decided, timing, repeat=True)
        decision.audit_ref = recorded.audit_ref
        return Scored(decision, timing)

    def decide(
        self, event: common_pb2.LoginEvent, velocity: Velocity, context_available: bool,
        signals: list[AgentSignal], thresholds: RiskThresholds | None = None,
    ) -> common_pb2.Decision:
        """Combination and policy over the agents' signals at `thresholds` (default: those
        of recent traffic), given the context's velocity counts (the policy needs only those:
        the history is the agents' to read): a pure function of its inputs, so that `aegis
        audit replay` reproduces a recorded decision with it."""
        combined = combine(signals, self.weights, self.combiner)
        at = thresholds or self.budget.current
        policy = self._policy_at(at)
        outcome = policy.decide(
            PolicyInputs(
                combined=combined,
                signals=signals,
                velocity=velocity,
                context_available=context_available,
                required_agents=self.required,
            )
        )
        return common_pb2.Decision(
            decision_id=uuid.uuid4().hex,
            event_id=event.event_id,
            action=int(outcome.action),
            risk=combined.risk,
            confidence=combined.confidence,
            disagreement=combined.disagreement,
            reasons=[reason_to_proto(r) for r in outcome.reasons]
            + [reason_to_proto(r) for r in self._agent_reasons(signals, at.challenge)],
            signals=[signal_to_proto(s) for s in signals],
            degraded_agents=list(combined.missing),
            policy_version=self.policy.version,
            model_versions=self._model_versions(signals),
            trace_id=current_trace_id(),
            decided_at=seconds_to_timestamp(datetime.now(UTC).timestamp()),
            thresholds=thresholds_to_proto(at),
            drivers=drivers(outcome, signals, velocity, at.challenge),
        )

    def _policy_at(self, thresholds: RiskThresholds) -> Policy:
        policy, acting_at, acting = self._acting
        if policy is not self.policy or acting_at != thresholds:
            acting = self.policy.at(thresholds)
            self._acting = (self.policy, thresholds, acting)
        return acting

    async def _get_contexts(
        self, items: Sequence[audit_pb2.GetContextRequest], timeout_s: float
    ) -> Sequence[ServedContext]:
        with (batch_call_span(GET_CONTEXT_BATCH, len(items)) as metadata,
              client_call(GET_CONTEXT_BATCH)):
            reply = await self.audit.GetContextBatch(
                audit_pb2.GetContextBatchRequest(items=items), timeout=timeout_s,
                metadata=metadata,
            )
        return reply.items

    async def _record_batch(
        self, items: Sequence[bytes], timeout_s: float
    ) -> Sequence[audit_pb2.RecordResult]:
        with batch_call_span(RECORD_BATCH, len(items)) as metadata, client_call(RECORD_BATCH):
            reply = await self.audit.RecordBatch(
                _RECORD_ITEMS.batch(items), timeout=timeout_s, metadata=metadata
            )
        return reply.results

    async def _context(
        self, event: common_pb2.LoginEvent, deadline: Deadline, cap_s: float, reserve_s: float,
        timing: router_pb2.ScoreTiming,
    ) -> ServedContext | None:
        """The user's context (and the event's recorded decision, if it has one), or None
        when it cannot be had within `cap_s` of the deadline."""
        budget = deadline.budget(cap_s, reserve_s)
        if budget <= 0:
            return None
        request = audit_pb2.GetContextRequest(
            user_id=event.user_id,
            device_id=event.device_id,
            ip=event.ip,
            asn=event.asn,
            as_of=event.timestamp,
            event_id=event.event_id,
            event_digest=event_digest(event),
        )
        try:
            batched = await self.contexts.submit(request, budget)
        except grpc.aio.AioRpcError as exc:
            _failures.log(logging.WARNING, "context unavailable", {"code": exc.code().name})
            return None
        except (TimeoutError, BatchSizeMismatch) as exc:
            _failures.log(logging.WARNING, "context unavailable", {"error": repr(exc)})
            return None
        if batched.result.HasField("error"):
            # This login's item alone was refused; the decision goes on without a context.
            log.warning("context refused", extra={"error": batched.result.error.message})
            return None
        timing.context_batch_size = batched.batch_size
        return batched.result

    async def _record(
        self, request: bytes, deadline: Deadline,
        timing: router_pb2.ScoreTiming,
    ) -> audit_pb2.RecordResponse:
        """The audit's answer once the record is durable. Retries reuse the decision id, so
        the audit service never stores it twice (invariant 1)."""
        try:
            # A plain loop, not tenacity: its retry object cost measurable CPU on every Score.
            for attempt in range(1, self.settings.audit_attempts + 1):
                try:
                    batched = await self._record_once(request, deadline)
                    break
                except Exception as exc:
                    if attempt == self.settings.audit_attempts or not _unavailable(exc):
                        raise
                    # Random exponential back-off (5, 10, 20, ... ms, at most 50 ms), so that
                    # Scores failed together do not retry together; never into the margin.
                    pause = random.uniform(0, min(0.05, 0.005 * 2 ** (attempt - 1)))
                    if pause >= self._record_budget(deadline):
                        raise
                    await asyncio.sleep(pause)
        except RecordRefused as exc:
            if exc.code == grpc.StatusCode.FAILED_PRECONDITION:
                raise ContextForgotten(str(exc)) from exc
            if exc.code != grpc.StatusCode.ALREADY_EXISTS:
                raise self._not_audited(exc) from exc
            raise AlreadyExists(
                "event.event_id", "was decided for a login with other content; an event id "
                "names one login",
            ) from exc
        except (grpc.aio.AioRpcError, TimeoutError, BatchSizeMismatch) as exc:
            raise self._not_audited(exc) from exc
        timing.audit_batch_size = batched.batch_size
        return batched.result.recorded

    async def _record_once(
        self, request: bytes, deadline: Deadline
    ) -> Batched[audit_pb2.RecordResult]:
        budget = self._record_budget(deadline)
        if budget <= 0:
            raise Unavailable("decision not audited: deadline exhausted")
        batched = await self.records.submit(request, budget)
        if batched.result.HasField("error"):
            raise RecordRefused(batched.result.error)
        return batched

    def _record_budget(self, deadline: Deadline) -> float:
        """What a Record attempt may take: the rest of the deadline but the reply margin."""
        return deadline.remaining() - self.settings.reply_margin_ms / 1000

    @staticmethod
    def _not_audited(exc: Exception) -> Unavailable:
        cause = _record_failure(exc)
        _failures.log(logging.ERROR, "audit record failed", {"error": cause})
        return Unavailable(f"decision not audited ({cause}): no decision without an audit record")

    def _model_versions(self, signals: list[AgentSignal]) -> dict[str, str]:
        """Every model the decision depends on: each agent's, and the learned combiner's."""
        versions = {s.agent: s.model_version for s in signals if s.model_version}
        if self.combiner is not None:
            versions[COMBINER] = self.combiner.version
        return versions

    @staticmethod
    def _agent_reasons(signals: list[AgentSignal], floor: float) -> list[Reason]:
        """The strongest reasons of the agents that found this login risky (risk >= floor)."""
        quoted = [
            (s.agent, r)
            for s in signals
            if s.present and s.risk >= floor
            for r in s.reasons
        ]
        quoted.sort(key=lambda item: -item[1].weight)
        return [
            Reason(code=f"{agent}:{r.code}", message=r.message, weight=r.weight)
            for agent, r in quoted[:MAX_AGENT_REASONS]
        ]


def thresholds_to_proto(t: RiskThresholds) -> common_pb2.PolicyThresholds:
    return common_pb2.PolicyThresholds(
        challenge=t.challenge, block_temporary=t.block_temporary, critical=t.critical,
        escalate_above=t.escalate_above, window_decisions=t.window_decisions,
    )


def thresholds_from_proto(t: common_pb2.PolicyThresholds) -> RiskThresholds:
    return RiskThresholds(t.challenge, t.block_temporary, t.critical, t.escalate_above,
                          t.window_decisions)
