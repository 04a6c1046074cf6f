"""The audit store contract, one decision per event id, on both backends: a repeat of a
login already decided gets that decision back and writes nothing, concurrent ones too; a
repeat with other content is refused; GetContext's lookup finds the recorded decision."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from aegis.v1 import common_pb2 as pb
from aegis_domain.digest import event_digest
from audit_service.repeats import recorded_decisions
from audit_service.storage import EventConflict
from tests.service import audit_backends
from tests.service.audit_backends import Backend
from tests.unit.audit_builders import make_record

moto_endpoint = audit_backends.moto_endpoint
backend = audit_backends.backend


def decided_again(record: pb.DecisionRecord, decision_id: str) -> pb.DecisionRecord:
    """The same login decided once more (a retried Score, a resumed replay)."""
    again = pb.DecisionRecord()
    again.CopyFrom(record)
    again.decision.decision_id = decision_id
    again.decision.risk = 0.9
    return again


def test_a_decided_event_gets_its_decision_back_and_nothing_is_written(
    backend: Backend,
) -> None:
    first = make_record("d-1")

    async def scenario():
        async with backend.running() as store:
            recorded = await store.record(first)
            again = await store.record(decided_again(first, "d-2"))
            return recorded, again, await store.get_decision("d-2")

    recorded, again, second = asyncio.run(scenario())
    assert again.duplicate is True and again.audit_ref == recorded.audit_ref
    assert again.decided is not None
    assert again.decided.decision_id == "d-1" and again.decided.risk == first.decision.risk
    assert again.decided.audit_ref == recorded.audit_ref
    assert second is None
    assert len(backend.lines()) == 1


def test_concurrent_records_of_one_event_yield_one_decision(backend: Backend) -> None:
    first = make_record("d-0")
    records = [decided_again(first, f"d-{n}") for n in range(6)]

    async def scenario():
        async with backend.running() as store:
            return await asyncio.gather(*(store.record(r) for r in records))

    results = asyncio.run(scenario())
    fresh = [r for r in results if not r.duplicate]
    assert len(fresh) == 1 and len(backend.lines()) == 1
    assert {r.audit_ref for r in results} == {fresh[0].audit_ref}
    winners = {r.decided.decision_id for r in results if r.decided is not None}
    assert len(winners) == 1 and len([r for r in results if r.decided]) == 5


def test_a_repeat_with_other_content_is_refused(backend: Backend) -> None:
    first = make_record("d-1")
    other = decided_again(first, "d-2")
    other.event.ip = "198.51.100.7"

    async def scenario():
        async with backend.running() as store:
            await store.record(first)
            with pytest.raises(EventConflict) as refused:
                await store.record(other)
            return refused.value

    refused = asyncio.run(scenario())
    assert refused.code == grpc.StatusCode.ALREADY_EXISTS
    assert refused.field == "record.event.event_id"
    assert len(backend.lines()) == 1


def test_the_lookup_finds_the_decision_of_the_same_login_only(backend: Backend) -> None:
    first = make_record("d-1")
    other = pb.LoginEvent()
    other.CopyFrom(first.event)
    other.ip = "198.51.100.7"

    async def scenario():
        async with backend.running() as store:
            recorded = await store.record(first)
            events = [
                (first.event.event_id, event_digest(first.event)),
                (first.event.event_id, event_digest(other)),
                ("ev-unknown", event_digest(first.event)),
            ]
            _, claims = await store.contexts_and_claims([], [e for e, _ in events])
            return recorded, await recorded_decisions(store, claims, events)

    recorded, (same, differing, unknown) = asyncio.run(scenario())
    assert same is not None and same.decision_id == "d-1"
    assert same.audit_ref == recorded.audit_ref
    assert differing is None and unknown is None


def test_events_stay_decided_after_the_index_is_rebuilt(backend: Backend) -> None:
    first = make_record("d-1")

    async def record_first():
        async with backend.running() as store:
            await store.record(first)

    async def repeat():
        async with backend.running() as store:
            return await store.record(decided_again(first, "d-2"))

    asyncio.run(record_first())
    backend.drop_index()
    asyncio.run(backend.store().rebuild_index())
    again = asyncio.run(repeat())
    assert again.decided is not None and again.decided.decision_id == "d-1"
    assert len(backend.lines()) == 1
