"""Human review on both backends: the queue of escalated decisions, verdicts recorded as new
audited records linked to the decision, and training labels from them."""

from __future__ import annotations

import asyncio

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_domain.types import Action
from aegis_lab.labels import label_of
from aegis_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from audit_service.reviews import ReviewDesk, Verdict
from tests.service import audit_backends
from tests.service.audit_backends import Backend
from tests.unit.audit_builders import T0, make_record

moto_endpoint = audit_backends.moto_endpoint
backend = audit_backends.backend

REVIEWED_AT = 1_717_243_200.0
REASON = "called the customer: travelling, confirmed the new phone"


def verdict(decision_id: str, outcome: int = pb.REVIEW_OUTCOME_APPROVE, **changes) -> Verdict:
    return Verdict(**({"decision_id": decision_id, "outcome": outcome, "action": 0,
                       "reviewer": "ana@soc", "reason": REASON} | changes))


async def _seed(store) -> None:
    """Three escalated decisions (e-0 oldest) among allowed ones."""
    for i in range(5):
        escalated = i % 2 == 0
        await store.record(make_record(
            f"e-{i // 2}" if escalated else f"a-{i}", ts=T0 + i, user_id=f"user-{i}",
            action=pb.ACTION_ESCALATE if escalated else pb.ACTION_ALLOW, risk=0.5,
        ))


def test_escalated_decisions_wait_in_the_queue_oldest_first(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
            await _seed(store)
            first = await store.list_reviews(decided=False, page_size=2)
            second = await store.list_reviews(False, 2, first.next_page_token)
            return first, second, await store.list_reviews(decided=True)

    first, second, decided = asyncio.run(scenario())
    assert [e.decision.decision_id for e in first.entries + second.entries] == ["e-0", "e-1", "e-2"]
    assert second.next_page_token == ""
    assert all(e.review is None for e in first.entries)
    assert first.entries[0].decision.action == pb.ACTION_ESCALATE
    assert decided.entries == []


def test_the_queue_depth_counts_pending_escalations_and_dates_the_oldest(
    backend: Backend,
) -> None:
    async def scenario():
        async with backend.running() as store:
            empty = await store.review_queue()
            await _seed(store)
            seeded = await store.review_queue()
            await ReviewDesk(store, clock=lambda: REVIEWED_AT).decide(verdict("e-0"))
            return empty, seeded, await store.review_queue()

    empty, seeded, reviewed = asyncio.run(scenario())
    assert (empty.pending, empty.oldest_event_time) == (0, None)
    # Allowed decisions never wait; e-0 (the oldest, at T0) leaves the queue when reviewed.
    assert (seeded.pending, seeded.oldest_event_time) == (3, T0)
    assert (reviewed.pending, reviewed.oldest_event_time) == (2, T0 + 2)


def test_a_verdict_is_a_new_record_linked_to_the_decision(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
            await _seed(store)
            original = await store.get_decision("e-1")
            desk = ReviewDesk(store, clock=lambda: REVIEWED_AT)
            decided = await desk.decide(verdict("e-1", pb.REVIEW_OUTCOME_MODIFY,
                                                action=pb.ACTION_BLOCK_PERMANENT))
            return (
                original, decided, await store.get_decision("e-1"),
                await store.get_decision(decided.review.review_id),
                await store.list_reviews(decided=False), await store.list_reviews(decided=True),
                await store.review_entry("e-1"), await store.verify(),
            )

    original, decided, after, review_record, pending, done, entry, report = asyncio.run(
        scenario()
    )
    assert after == original  # the decision's own record never changes
    review = decided.review
    assert (review.decision_id, review.action, review.original_action) == (
        "e-1", pb.ACTION_BLOCK_PERMANENT, pb.ACTION_ESCALATE
    )
    assert review_record is not None
    record, ref = review_record
    assert ref == decided.audit_ref and record.review == review
    assert record.decision.action == pb.ACTION_BLOCK_PERMANENT
    assert record.decision.reasons[0].code == "HUMAN_REVIEW:MODIFY"
    assert record.event == original[0].event
    assert [e.decision.decision_id for e in pending.entries] == ["e-0", "e-2"]
    assert [(e.decision.decision_id, e.review.review_id) for e in done.entries] == [
        ("e-1", review.review_id)
    ]
    assert entry is not None and entry.review is not None
    assert (entry.review.reviewer, entry.review.reason, entry.review.reviewed_at) == (
        "ana@soc", REASON, REVIEWED_AT
    )
    assert entry.review.audit_ref == decided.audit_ref
    assert report.ok, report.problems


def test_approve_allows_and_reject_blocks(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
            await _seed(store)
            desk = ReviewDesk(store)
            return (await desk.decide(verdict("e-0"))).review, (
                await desk.decide(verdict("e-2", pb.REVIEW_OUTCOME_REJECT))
            ).review

    approved, rejected = asyncio.run(scenario())
    assert (approved.action, rejected.action) == (pb.ACTION_ALLOW, pb.ACTION_BLOCK_TEMPORARY)
    assert label_of(approved) == (Action.ALLOW, False)
    assert label_of(rejected) == (Action.BLOCK_TEMPORARY, True)


def test_a_decision_has_one_review_and_a_retry_is_a_duplicate(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
            await _seed(store)
            desk = ReviewDesk(store)
            first = await desk.decide(verdict("e-0", review_id="r-1"))
            again = await desk.decide(verdict("e-0", review_id="r-1"))
            with pytest.raises(FailedPrecondition, match="reviewed already"):
                await desk.decide(verdict("e-0", pb.REVIEW_OUTCOME_REJECT))
            with pytest.raises(InvalidArgument) as other:
                await desk.decide(verdict("e-1", review_id="r-1"))
            with pytest.raises(NotFound):
                await desk.decide(verdict("r-1"))  # a review is not reviewed itself
            with pytest.raises(NotFound):
                await desk.decide(verdict("nope"))
            return first, again, other.value

    first, again, other = asyncio.run(scenario())
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.audit_ref == first.audit_ref and again.review == first.review
    assert other.field == "review_id"


def test_the_log_verifies_and_rebuilds_with_reviews(backend: Backend) -> None:
    async def reviewed():
        async with backend.running() as store:
            await _seed(store)
            await ReviewDesk(store).decide(verdict("e-1", review_id="r-1"))

    async def answers():
        async with backend.running() as store:
            return (await store.list_reviews(False), await store.list_reviews(True),
                    await store.review_entry("e-1"), (await store.verify()).ok)

    asyncio.run(reviewed())
    before = asyncio.run(answers())
    backend.drop_index()
    asyncio.run(backend.store().rebuild_index())
    assert asyncio.run(answers()) == before
    assert before[-1] is True
