"""Batch requests assembled from framed items are byte for byte the batch messages."""

from __future__ import annotations

from aegis.v1 import agent_pb2, audit_pb2, common_pb2
from router_service.wire import BatchFraming, message_bytes


def assess(n: int) -> agent_pb2.AssessRequest:
    context = common_pb2.LoginContext(ip_users=n, history_truncated=True)
    # Enough past logins for a length that takes a two-byte varint.
    for i in range(40 * n):
        context.history.add(
            event=common_pb2.LoginEvent(ip=f"10.0.{n}.{i % 250}", country="NO", asn=29695 + i),
            risk=0.01 * i,
        )
    return agent_pb2.AssessRequest(
        event=common_pb2.LoginEvent(event_id=f"ev-{n}", user_id="alice"), context=context
    )


def test_framed_items_concatenate_to_the_batch_message() -> None:
    framing = BatchFraming(agent_pb2.AssessBatchRequest)
    items = [assess(n) for n in (0, 1, 3)]
    assembled = framing.batch([framing.item(m) for m in items])
    assert assembled == agent_pb2.AssessBatchRequest(items=items).SerializeToString()
    assert list(agent_pb2.AssessBatchRequest.FromString(assembled).items) == items


def test_record_batches_are_framed_alike() -> None:
    framing = BatchFraming(audit_pb2.RecordBatchRequest)
    record = audit_pb2.RecordRequest()
    record.record.environment = "test"
    record.record.decision.decision_id = "d-1"
    assert framing.batch([framing.item(record)] * 2) == audit_pb2.RecordBatchRequest(
        items=[record, record]
    ).SerializeToString()


def test_a_message_from_its_fields_bytes_is_the_message() -> None:
    for n in (0, 1, 3):
        request = assess(n)
        assert message_bytes(
            agent_pb2.AssessRequest, context=request.context, event=request.event
        ) == request.SerializeToString()
    empty = agent_pb2.AssessRequest(
        event=common_pb2.LoginEvent(), context=common_pb2.LoginContext()
    )
    assert message_bytes(
        agent_pb2.AssessRequest, event=empty.event, context=empty.context
    ) == empty.SerializeToString()
    # A field already serialized (the router's served context) goes in as it is.
    request = assess(2)
    assert message_bytes(
        agent_pb2.AssessRequest, event=request.event, context=request.context.SerializeToString()
    ) == request.SerializeToString()
