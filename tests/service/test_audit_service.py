"""AuditService through a real gRPC server on an ephemeral port: over the embedded store,
and (the calls that touch storage) over both backends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeAlias

import grpc
import pytest

from aegis.v1 import audit_pb2, audit_pb2_grpc
from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import seconds_to_timestamp
from aegis_runtime.channels import service_channel
from aegis_runtime.server import RunningServer
from audit_service.component import AuditComponent
from audit_service.log.proofs import check_proof, proof_from_message
from audit_service.log.signing import parse_public_key
from audit_service.settings import AuditSettings
from tests.service import audit_backends
from tests.service.audit_backends import Backend
from tests.service.rpc_status import bad_request_fields
from tests.unit.audit_builders import T0, make_record

Stub: TypeAlias = audit_pb2_grpc.AuditServiceStub
moto_endpoint = audit_backends.moto_endpoint
backend = audit_backends.backend


@contextlib.asynccontextmanager
async def serving_backend(backend: Backend) -> AsyncIterator[Stub]:
    settings = backend.settings.model_copy(update={"port": 0, "grace_period_s": 1.0})
    server = RunningServer(AuditComponent(settings, backend.store()), settings)
    await server.start()
    try:
        async with service_channel(f"127.0.0.1:{server.port}") as channel:
            yield Stub(channel)
    finally:
        await server.stop(1.0)


def run(data_dir: Path, scenario: Callable[[Stub], Awaitable[Any]]) -> Any:
    """`scenario` against the service over the embedded store in `data_dir`."""
    embedded = Backend("embedded", AuditSettings(data_dir=data_dir, environment="test"))

    async def main() -> Any:
        async with serving_backend(embedded) as stub:
            return await scenario(stub)

    return asyncio.run(main())


def rpc_error(data_dir: Path, call: Callable[[Stub], Awaitable[object]]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        run(data_dir, call)
    return caught.value


def test_record_is_acknowledged_once_and_read_back(tmp_path: Path) -> None:
    record = make_record("d-1")

    async def scenario(stub: Stub):
        first = await stub.Record(audit_pb2.RecordRequest(record=record), timeout=5)
        again = await stub.Record(audit_pb2.RecordRequest(record=record), timeout=5)
        found = await stub.GetDecision(audit_pb2.GetDecisionRequest(decision_id="d-1"), timeout=5)
        return first, again, found

    first, again, found = run(tmp_path, scenario)
    assert first.audit_ref.endswith("/test/local-1-000000000001.jsonl#1")
    assert not first.duplicate
    assert again.duplicate and again.audit_ref == first.audit_ref
    assert found.record == record and found.audit_ref == first.audit_ref


def test_get_context_sees_only_what_came_before(tmp_path: Path) -> None:
    async def scenario(stub: Stub):
        for i, (user, ts) in enumerate([("alice", T0 - 60), ("bob", T0 - 30), ("alice", T0)]):
            await stub.Record(
                audit_pb2.RecordRequest(record=make_record(f"d-{i}", user_id=user, ts=ts)),
                timeout=5,
            )
        request = audit_pb2.GetContextRequest(
            user_id="alice", device_id="dev-alice", ip="192.0.2.1", asn=64500,
            as_of=seconds_to_timestamp(T0),
        )
        return (await stub.GetContext(request, timeout=5)).context

    context = run(tmp_path, scenario)
    assert list(context.past_logins.event_id) == ["ev-d-0"]
    assert [(n.link, n.user_id) for n in context.neighbors] == [
        (pb.LINK_KIND_DEVICE, "bob"), (pb.LINK_KIND_IP, "bob"), (pb.LINK_KIND_ASN, "bob"),
    ]
    assert context.velocity.ip_attempts == 2 and context.velocity.window_seconds == 3600


def test_a_record_batch_records_the_good_items_and_refuses_the_bad_one_by_field(
    tmp_path: Path,
) -> None:
    async def scenario(stub: Stub):
        batch = audit_pb2.RecordBatchRequest(items=[
            audit_pb2.RecordRequest(record=make_record("d-1")),
            _with_bad_ip(),
            audit_pb2.RecordRequest(record=make_record("d-3")),
            audit_pb2.RecordRequest(record=make_record("d-1")),
        ])
        reply = await stub.RecordBatch(batch, timeout=5)
        stored = [
            await stub.GetDecision(audit_pb2.GetDecisionRequest(decision_id=d), timeout=5)
            for d in ("d-1", "d-3")
        ]
        listed = await stub.ListDecisions(audit_pb2.ListDecisionsRequest(), timeout=5)
        return reply, stored, listed

    reply, stored, listed = run(tmp_path, scenario)
    first, bad, third, repeat = reply.results
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert bad.error.field == "record.event.ip"
    assert first.recorded.audit_ref == stored[0].audit_ref
    assert third.recorded.audit_ref == stored[1].audit_ref
    assert repeat.recorded.duplicate and repeat.recorded.audit_ref == first.recorded.audit_ref
    assert sorted(d.decision_id for d in listed.decisions) == ["d-1", "d-3"]


def test_a_context_batch_answers_each_query_in_order(tmp_path: Path) -> None:
    async def scenario(stub: Stub):
        for i, (user, ts) in enumerate([("alice", T0 - 60), ("bob", T0 - 30), ("alice", T0)]):
            await stub.Record(
                audit_pb2.RecordRequest(record=make_record(f"d-{i}", user_id=user, ts=ts)),
                timeout=5,
            )
        queries = [
            audit_pb2.GetContextRequest(user_id=user, device_id=f"dev-{user}", ip="192.0.2.1",
                                        asn=64500, as_of=seconds_to_timestamp(when))
            for user, when in [("alice", T0 + 1), ("bob", T0 + 1), ("alice", T0 - 60)]
        ]
        batch = await stub.GetContextBatch(
            audit_pb2.GetContextBatchRequest(items=queries), timeout=5
        )
        alone = [(await stub.GetContext(q, timeout=5)).context for q in queries]
        return batch, alone

    batch, alone = run(tmp_path, scenario)
    assert [item.context for item in batch.items] == alone
    assert [list(c.past_logins.event_id) for c in alone] == [
        ["ev-d-2", "ev-d-0"], ["ev-d-1"], [],
    ]


def test_list_decisions_pages_through_filters(tmp_path: Path) -> None:
    async def scenario(stub: Stub):
        for i in range(5):
            action = pb.ACTION_BLOCK_TEMPORARY if i % 2 else pb.ACTION_ALLOW
            record = make_record(f"d-{i}", ts=T0 + i, action=action)
            await stub.Record(audit_pb2.RecordRequest(record=record), timeout=5)
        seen, token = [], ""
        while True:
            page = await stub.ListDecisions(
                audit_pb2.ListDecisionsRequest(page_size=2, page_token=token), timeout=5
            )
            seen.append([d.decision_id for d in page.decisions])
            token = page.next_page_token
            if not token:
                break
        blocked = await stub.ListDecisions(
            audit_pb2.ListDecisionsRequest(
                action=pb.ACTION_BLOCK_TEMPORARY, country="NO",
                since=seconds_to_timestamp(T0), until=seconds_to_timestamp(T0 + 3),
            ),
            timeout=5,
        )
        return seen, blocked

    seen, blocked = run(tmp_path, scenario)
    assert seen == [["d-4", "d-3"], ["d-2", "d-1"], ["d-0"]]
    assert [d.decision_id for d in blocked.decisions] == ["d-1"]
    summary = blocked.decisions[0]
    assert summary.event_time == seconds_to_timestamp(T0 + 1)
    assert summary.action == pb.ACTION_BLOCK_TEMPORARY and summary.audit_ref.endswith("#2")


def test_verify_reports_a_clean_log_and_then_a_tampered_one(tmp_path: Path) -> None:
    async def scenario(stub: Stub):
        for i in range(3):
            record = make_record(f"d-{i}", ts=T0 + i)
            await stub.Record(audit_pb2.RecordRequest(record=record), timeout=5)
        clean = await stub.Verify(audit_pb2.VerifyRequest(), timeout=10)
        segment = next((tmp_path / "audit").rglob("*.jsonl"))
        segment.write_bytes(segment.read_bytes().replace(b'"risk":0.1', b'"risk":0.0', 1))
        tampered = await stub.Verify(audit_pb2.VerifyRequest(), timeout=10)
        return clean, tampered

    clean, tampered = run(tmp_path, scenario)
    assert clean.ok and clean.records_checked == 3 and clean.segments_checked == 1
    assert not tampered.ok
    assert [p.kind for p in tampered.problems] == ["HASH_MISMATCH"]
    assert tampered.problems[0].location.endswith(".jsonl:1")


def test_an_unknown_decision_is_not_found(tmp_path: Path) -> None:
    error = rpc_error(
        tmp_path,
        lambda stub: stub.GetDecision(audit_pb2.GetDecisionRequest(decision_id="nope"), timeout=5),
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in (error.details() or "")


def test_decide_a_review_then_prove_it_offline(backend: Backend) -> None:
    async def scenario():
        async with serving_backend(backend) as stub:
            for i in range(3):
                record = make_record(f"d-{i}", ts=T0 + i, action=pb.ACTION_ESCALATE)
                await stub.Record(audit_pb2.RecordRequest(record=record), timeout=5)
            queue = await stub.ListReviews(audit_pb2.ListReviewsRequest(), timeout=5)
            decided = await stub.DecideReview(audit_pb2.DecideReviewRequest(
                decision_id="d-1", outcome=pb.REVIEW_OUTCOME_MODIFY,
                action=pb.ACTION_ACCOUNT_TERMINATION, reviewer="ana@soc",
                reason="account sold on a forum, confirmed by the owner", review_id="r-1",
            ), timeout=5)
            shown = await stub.GetReview(audit_pb2.GetReviewRequest(decision_id="d-1"),
                                         timeout=5)
            done = await stub.ListReviews(
                audit_pb2.ListReviewsRequest(state=audit_pb2.REVIEW_STATE_DECIDED), timeout=5
            )
            proof = await stub.ProveInclusion(
                audit_pb2.ProveInclusionRequest(decision_id="r-1"), timeout=5
            )
            key = await stub.GetSigningKey(audit_pb2.GetSigningKeyRequest(), timeout=5)
            verified = await stub.Verify(audit_pb2.VerifyRequest(), timeout=10)
            return queue, decided, shown, done, proof, key, verified

    queue, decided, shown, done, proof, key, verified = asyncio.run(scenario())
    assert [r.decision.decision_id for r in queue.reviews] == ["d-0", "d-1", "d-2"]
    assert all(r.state == audit_pb2.REVIEW_STATE_PENDING for r in queue.reviews)
    assert decided.review.action == pb.ACTION_ACCOUNT_TERMINATION and not decided.duplicate
    assert shown.item.state == audit_pb2.REVIEW_STATE_DECIDED
    assert shown.item.review == decided.review and shown.item.review_audit_ref == decided.audit_ref
    assert shown.record.decision.action == pb.ACTION_ESCALATE  # the original, unchanged
    assert [r.decision.decision_id for r in done.reviews] == ["d-1"]
    line = check_proof(proof_from_message(proof.proof), parse_public_key(key.public_key_pem, "pem"))
    assert line.record().review == decided.review
    assert verified.ok, verified.problems


def _human_only() -> audit_pb2.RecordRequest:
    return audit_pb2.RecordRequest(
        record=make_record("d-1", action=pb.ACTION_BLOCK_PERMANENT)
    )


def _with_review() -> audit_pb2.RecordRequest:
    record = make_record("d-1")
    record.review.decision_id = "d-0"
    return audit_pb2.RecordRequest(record=record)


def _decide(**changes) -> audit_pb2.DecideReviewRequest:
    fields = {"decision_id": "d-1", "outcome": pb.REVIEW_OUTCOME_APPROVE, "reviewer": "ana",
              "reason": "the customer confirmed it by phone"} | changes
    return audit_pb2.DecideReviewRequest(**fields)


@pytest.mark.parametrize(
    ("call", "code", "expected"),
    [
        (lambda s: s.DecideReview(_decide(reason="short"), timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "reason: "),
        (lambda s: s.DecideReview(_decide(outcome=pb.REVIEW_OUTCOME_MODIFY), timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "action: "),
        (lambda s: s.DecideReview(_decide(decision_id="nope"), timeout=5),
         grpc.StatusCode.NOT_FOUND, "decision 'nope'"),
        (lambda s: s.ListReviews(audit_pb2.ListReviewsRequest(state=7), timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "state: "),
        (lambda s: s.GetReview(audit_pb2.GetReviewRequest(), timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "decision_id: "),
        (lambda s: s.ProveInclusion(audit_pb2.ProveInclusionRequest(decision_id="nope"),
                                    timeout=5),
         grpc.StatusCode.NOT_FOUND, "decision 'nope'"),
    ],
)
def test_review_and_proof_errors(
    tmp_path: Path, call: Callable[[Stub], Awaitable[object]], code: grpc.StatusCode,
    expected: str,
) -> None:
    error = rpc_error(tmp_path, call)
    assert error.code() == code
    assert (error.details() or "").startswith(expected)


def test_a_decision_is_reviewed_once(tmp_path: Path) -> None:
    async def scenario(stub: Stub):
        await stub.Record(audit_pb2.RecordRequest(record=make_record("d-1")), timeout=5)
        await stub.DecideReview(_decide(), timeout=5)
        await stub.DecideReview(_decide(outcome=pb.REVIEW_OUTCOME_REJECT), timeout=5)

    error = rpc_error(tmp_path, scenario)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "reviewed already" in (error.details() or "")


def _without_decision_id() -> audit_pb2.RecordRequest:
    record = make_record("d-1")
    record.decision.decision_id = ""
    return audit_pb2.RecordRequest(record=record)


def _with_bad_ip() -> audit_pb2.RecordRequest:
    record = make_record("d-1")
    record.event.ip = "not-an-ip"
    return audit_pb2.RecordRequest(record=record)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.Record(_without_decision_id(), timeout=5), "record.decision.decision_id"),
        (lambda s: s.Record(audit_pb2.RecordRequest(), timeout=5), "record"),
        (lambda s: s.Record(_with_bad_ip(), timeout=5), "record.event.ip"),
        (lambda s: s.Record(_human_only(), timeout=5), "record.decision.action"),
        (lambda s: s.Record(_with_review(), timeout=5), "record.review"),
        (
            lambda s: s.GetContext(
                audit_pb2.GetContextRequest(as_of=seconds_to_timestamp(T0)), timeout=5
            ),
            "user_id",
        ),
        (lambda s: s.GetContext(audit_pb2.GetContextRequest(user_id="u"), timeout=5), "as_of"),
        (lambda s: s.GetDecision(audit_pb2.GetDecisionRequest(), timeout=5), "decision_id"),
        (
            lambda s: s.ListDecisions(audit_pb2.ListDecisionsRequest(page_token="x"), timeout=5),
            "page_token",
        ),
        (lambda s: s.ListDecisions(audit_pb2.ListDecisionsRequest(action=42), timeout=5),
         "action"),
    ],
)
def test_bad_requests_name_the_field(
    tmp_path: Path, call: Callable[[Stub], Awaitable[object]], field: str
) -> None:
    error = rpc_error(tmp_path, call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.details() or "").startswith(f"{field}: ")
    assert bad_request_fields(error) == [field]
