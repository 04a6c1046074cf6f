"""A record that names its context by the GetContext reply's context_ref, through real servers:
over both audit backends, and from the router (which sends the context when the audit service
no longer holds it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from aegis.v1 import audit_pb2, router_pb2
from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import seconds_to_timestamp
from audit_service.served_contexts import ServedContexts
from tests.service import audit_backends
from tests.service.audit_backends import Backend
from tests.service.mesh import entry, start_mesh
from tests.service.test_audit_service import Stub, serving_backend
from tests.service.test_router import FixedAgent, event
from tests.unit.audit_builders import T0, make_record

moto_endpoint = audit_backends.moto_endpoint
backend = audit_backends.backend

FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]


async def _served(stub: Stub) -> audit_pb2.GetContextResponse:
    """alice's context at T0 + 1, after two past logins of hers and one of bob's."""
    for i, (user, ts) in enumerate([("alice", T0 - 60), ("bob", T0 - 30), ("alice", T0)]):
        record = make_record(f"past-{i}", user_id=user, ts=ts)
        await stub.Record(audit_pb2.RecordRequest(record=record), timeout=5)
    return await stub.GetContext(audit_pb2.GetContextRequest(
        user_id="alice", device_id="dev-alice", ip="192.0.2.1", asn=64500,
        as_of=seconds_to_timestamp(T0 + 1), event_id="ev-d-1",
    ), timeout=5)


def test_a_record_by_reference_stores_the_context_that_was_served(backend: Backend) -> None:
    async def scenario():
        async with serving_backend(backend) as stub:
            served = await _served(stub)
            by_ref = audit_pb2.RecordRequest(record=make_record("d-1", ts=T0 + 1),
                                             context_ref=served.context_ref)
            first = await stub.Record(by_ref, timeout=5)
            stored = await stub.GetDecision(
                audit_pb2.GetDecisionRequest(decision_id="d-1"), timeout=5
            )
            # A reference is good for one record; a retry of that record is answered as a
            # repeat of its decision id once it carries the context.
            again = await stub.RecordBatch(audit_pb2.RecordBatchRequest(items=[by_ref]),
                                           timeout=5)
            verified = await stub.Verify(audit_pb2.VerifyRequest(), timeout=30)
            return served, first, stored, again, verified

    served, first, stored, again, verified = asyncio.run(scenario())
    assert served.context_ref and list(served.context.past_logins.event_id) == [
        "ev-past-2", "ev-past-0",
    ]
    expected = make_record("d-1", ts=T0 + 1)
    expected.context.CopyFrom(served.context)
    assert stored.record == expected and stored.audit_ref == first.audit_ref
    (refused,) = again.results
    assert refused.error.code == FAILED_PRECONDITION and "context_ref" in refused.error.message
    assert verified.ok, verified.problems


def test_a_reference_it_does_not_hold_or_beside_a_context_is_refused_alone(
    tmp_path: Path,
) -> None:
    embedded = Backend("embedded", audit_backends.AuditSettings(data_dir=tmp_path,
                                                                environment="test"))

    async def scenario():
        async with serving_backend(embedded) as stub:
            served = await _served(stub)
            both = audit_pb2.RecordRequest(record=make_record("d-2", ts=T0 + 1),
                                           context_ref=served.context_ref)
            both.record.context.CopyFrom(served.context)
            return await stub.RecordBatch(audit_pb2.RecordBatchRequest(items=[
                audit_pb2.RecordRequest(record=make_record("d-1", ts=T0 + 1),
                                        context_ref=b"not one of ours"),
                both,
                audit_pb2.RecordRequest(record=make_record("d-3", ts=T0 + 2)),
            ]), timeout=5)

    forgotten, both, plain = asyncio.run(scenario()).results
    assert forgotten.error.code == FAILED_PRECONDITION
    assert both.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert both.error.field == "context_ref"
    assert plain.recorded.audit_ref


class Forgetful(ServedContexts):
    """Forgets every context just before a record asks for it: an eviction, a restart or
    another task of the audit service, at the worst moment."""

    asked = 0

    def take(self, ref: bytes) -> bytes:
        self.asked += 1
        self._held.clear()
        return super().take(ref)


def _stored_context(
    forgetful: bool, tmp_path: Path
) -> tuple[pb.LoginContext, ServedContexts]:
    """A Score of a user with history: the context its record holds, and the contexts the
    audit service holds after it."""

    async def scenario():
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), FixedAgent("geo", 0.05))})
        servicer = mesh.audit.component.servicer
        try:
            stub = mesh.router_stub()
            for n in range(1, 3):
                await stub.Score(router_pb2.ScoreRequest(event=event(n)), timeout=5)
            if forgetful:
                servicer.served = Forgetful(1 << 20)
            reply = await stub.Score(router_pb2.ScoreRequest(event=event(3)), timeout=5)
            stored = await mesh.audit_stub().GetDecision(
                audit_pb2.GetDecisionRequest(decision_id=reply.decision.decision_id), timeout=5
            )
            return stored.record.context, servicer.served
        finally:
            await mesh.close()

    return asyncio.run(scenario())


def test_the_router_records_by_reference(tmp_path: Path) -> None:
    context, served = _stored_context(False, tmp_path)
    assert list(context.past_logins.event_id) == ["ev-alice-2", "ev-alice-1"]
    assert context.velocity.window_seconds > 0
    assert len(served) == 0  # every record took its context by reference


def test_the_router_sends_the_context_when_the_audit_no_longer_holds_it(
    tmp_path: Path,
) -> None:
    context, served = _stored_context(True, tmp_path)
    assert isinstance(served, Forgetful) and served.asked == 1
    assert list(context.past_logins.event_id) == ["ev-alice-2", "ev-alice-1"]
    assert context.velocity.window_seconds > 0
