"""Human review: a reviewer's verdict is recorded as a new audited record linked to the
decision it reviews; the decision's own record never changes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aegis.v1 import common_pb2
from aegis_domain.convert import seconds_to_timestamp
from aegis_domain.types import Action
from aegis_domain.validation import MAX_ID_LENGTH
from aegis_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from aegis_runtime.logging import current_trace_id
from audit_service.storage import AuditStore

MIN_REASON_CHARS = 10
MAX_REVIEWER_CHARS = 128
MAX_REASON_CHARS = 4_000
REVIEW_POLICY_VERSION = "human-review"
# What APPROVE and REJECT do; MODIFY names its action.
OUTCOME_ACTIONS = {
    common_pb2.REVIEW_OUTCOME_APPROVE: Action.ALLOW,
    common_pb2.REVIEW_OUTCOME_REJECT: Action.BLOCK_TEMPORARY,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a reviewer asks to record. `action` only with MODIFY; `review_id` may be empty."""

    decision_id: str
    outcome: int
    action: int
    reviewer: str
    reason: str
    review_id: str = ""


def _check_id(field: str, value: str) -> None:
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(field, f"is {len(value)} characters long; at most {MAX_ID_LENGTH}")
    if not value.isprintable():
        raise InvalidArgument(field, "contains control characters")


def validate_verdict(verdict: Verdict) -> None:
    """Every rejection names its field."""
    if not verdict.decision_id.strip():
        raise InvalidArgument("decision_id", "is required")
    _check_id("decision_id", verdict.decision_id)
    if verdict.review_id:
        _check_id("review_id", verdict.review_id)
    if verdict.outcome == common_pb2.REVIEW_OUTCOME_UNSPECIFIED:
        raise InvalidArgument("outcome", "is required: APPROVE, REJECT or MODIFY")
    if verdict.outcome not in common_pb2.ReviewOutcome.values():
        raise InvalidArgument("outcome", f"unknown value {verdict.outcome}")
    if verdict.outcome == common_pb2.REVIEW_OUTCOME_MODIFY:
        if verdict.action not in common_pb2.Action.values():
            raise InvalidArgument("action", f"unknown value {verdict.action}")
        if verdict.action in (Action.ESCALATE, common_pb2.ACTION_UNSPECIFIED):
            raise InvalidArgument(
                "action", "MODIFY needs the action to take (not ESCALATE: the reviewer decides)"
            )
    elif verdict.action != common_pb2.ACTION_UNSPECIFIED:
        raise InvalidArgument("action", "is only for MODIFY (APPROVE allows, REJECT blocks)")
    if not verdict.reviewer.strip():
        raise InvalidArgument("reviewer", "is required")
    if len(verdict.reviewer) > MAX_REVIEWER_CHARS or not verdict.reviewer.isprintable():
        raise InvalidArgument(
            "reviewer", f"must be printable and at most {MAX_REVIEWER_CHARS} characters"
        )
    reason = verdict.reason.strip()
    if len(reason) < MIN_REASON_CHARS:
        raise InvalidArgument(
            "reason", f"must say why in at least {MIN_REASON_CHARS} characters (got {len(reason)})"
        )
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidArgument("reason", f"is longer than {MAX_REASON_CHARS} characters")


def resulting_action(verdict: Verdict) -> Action:
    implied = OUTCOME_ACTIONS.get(verdict.outcome)
    return implied if implied is not None else Action(verdict.action)


def review_record(
    reviewed: common_pb2.DecisionRecord, verdict: Verdict, review_id: str, now: float
) -> common_pb2.DecisionRecord:
    """The record of a review: a decision by a human (its id is the review's), the event it
    is about, and the Review that links it to the AI's decision."""
    action = int(resulting_action(verdict))
    outcome_name = common_pb2.ReviewOutcome.Name(verdict.outcome).removeprefix("REVIEW_OUTCOME_")
    reviewed_at = seconds_to_timestamp(now)
    return common_pb2.DecisionRecord(
        decision=common_pb2.Decision(
            decision_id=review_id,
            event_id=reviewed.decision.event_id,
            action=action,
            risk=reviewed.decision.risk,
            confidence=1.0,
            reasons=[common_pb2.Reason(code=f"HUMAN_REVIEW:{outcome_name}",
                                       message=verdict.reason.strip())],
            policy_version=REVIEW_POLICY_VERSION,
            trace_id=current_trace_id(),
            decided_at=reviewed_at,
        ),
        event=reviewed.event,
        environment=reviewed.environment,
        review=common_pb2.Review(
            review_id=review_id,
            decision_id=verdict.decision_id,
            outcome=verdict.outcome,
            action=action,
            reviewer=verdict.reviewer.strip(),
            reason=verdict.reason.strip(),
            reviewed_at=reviewed_at,
            original_action=reviewed.decision.action,
        ),
    )


@dataclass(frozen=True, slots=True)
class Decided:
    review: common_pb2.Review
    audit_ref: str
    duplicate: bool


class ReviewDesk:
    """Records verdicts: one per decision, idempotent by review id."""

    def __init__(self, store: AuditStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        # One verdict at a time in this process, so two reviewers cannot both be first.
        self._lock = asyncio.Lock()

    async def decide(self, verdict: Verdict) -> Decided:
        """Raises InvalidArgument, NotFound (no such decision) or FailedPrecondition (the
        decision has its review already)."""
        validate_verdict(verdict)
        async with self._lock:
            if verdict.review_id:
                repeat = await self._repeat(verdict)
                if repeat is not None:
                    return repeat
            entry = await self._store.review_entry(verdict.decision_id)
            found = await self._store.get_decision(verdict.decision_id)
            if entry is None or found is None:
                raise NotFound(f"decision {verdict.decision_id!r} is not in the audit log "
                               "(reviews are not reviewed themselves)")
            if entry.review is not None:
                done = entry.review
                raise FailedPrecondition(
                    f"decision {verdict.decision_id} was reviewed already: review "
                    f"{done.review_id} by {done.reviewer} ({Action(done.action).name})"
                )
            review_id = verdict.review_id or uuid.uuid4().hex
            record = review_record(found[0], verdict, review_id, self._clock())
            result = await self._store.record(record)
            return Decided(record.review, result.audit_ref, result.duplicate)

    async def _repeat(self, verdict: Verdict) -> Decided | None:
        """The recorded review when this review id was recorded before (a retry)."""
        found = await self._store.get_decision(verdict.review_id)
        if found is None:
            return None
        record, ref = found
        if not record.HasField("review") or record.review.decision_id != verdict.decision_id:
            raise InvalidArgument("review_id", "names another record of the audit log")
        return Decided(record.review, ref, duplicate=True)
