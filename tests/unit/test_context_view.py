"""The router reads GetContext answers with each context left as the bytes that came."""

from __future__ import annotations

from aegis.v1 import audit_pb2, common_pb2
from aegis_domain.convert import velocity_from_proto
from router_service.context_view import SERVED_CONTEXT_STREAM, served_contexts, served_velocity


def context(n: int) -> common_pb2.LoginContext:
    served = common_pb2.LoginContext(ip_users=n, asn_countries=3, history_truncated=True)
    served.velocity.window_seconds = 3600
    served.velocity.user_failures = n
    served.neighbors.add(user_id=f"u-{n}", logins=2, max_risk=0.25)
    for i in range(30 + n):
        served.past_logins.event_id.append(f"ev-{i}")
        served.past_logins.timestamp.append(1.7e9 + i)
        served.past_logins.ip.append(f"10.0.{n}.{i}")
    return served


def answer() -> audit_pb2.GetContextBatchResponse:
    return audit_pb2.GetContextBatchResponse(items=[
        audit_pb2.GetContextResponse(context=context(0), context_ref=b"ref-0"),
        audit_pb2.GetContextResponse(
            context=context(1), decided=common_pb2.Decision(decision_id="d-1", risk=0.5)
        ),
        audit_pb2.GetContextResponse(error=common_pb2.ItemError(code=3, message="bad ip")),
    ])


def test_each_context_is_the_bytes_it_was_served_in_and_the_rest_reads_as_sent() -> None:
    sent = answer()
    read = served_contexts(sent.SerializeToString())
    assert [item.context for item in read.items] == [
        item.context.SerializeToString() for item in sent.items
    ]
    assert [item.context_ref for item in read.items] == [b"ref-0", b"", b""]
    assert [item.HasField("decided") for item in read.items] == [False, True, False]
    assert read.items[1].decided == sent.items[1].decided
    assert read.items[2].HasField("error") and read.items[2].error == sent.items[2].error


def test_a_lane_answer_reads_alike() -> None:
    sent = audit_pb2.GetContextStreamResponse(batch=answer())
    sent.status.id = 7
    read = SERVED_CONTEXT_STREAM.FromString(sent.SerializeToString())
    assert read.status.id == 7
    assert [item.context for item in read.batch.items] == [
        item.context.SerializeToString() for item in sent.batch.items
    ]


def test_the_velocity_is_read_from_the_bytes() -> None:
    for n in (0, 4):
        served = context(n)
        assert served_velocity(served.SerializeToString()) == velocity_from_proto(served.velocity)
