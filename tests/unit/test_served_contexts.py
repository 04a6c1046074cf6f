"""The contexts GetContext served, held by reference, and a record's bytes written with them."""

from __future__ import annotations

import pytest

from aegis.v1 import common_pb2 as pb
from audit_service.log.chain import canonical_record
from audit_service.served_contexts import ContextForgotten, ServedContexts
from tests.unit.audit_builders import make_record


def test_a_reference_gives_its_context_once() -> None:
    served = ServedContexts(100)
    first, second = served.keep(b"one"), served.keep(b"two")
    assert first and second and first != second
    assert served.take(second) == b"two"
    assert served.take(first) == b"one"
    with pytest.raises(ContextForgotten):
        served.take(first)
    assert len(served) == 0


def test_the_oldest_context_is_forgotten_first() -> None:
    served = ServedContexts(2)  # bytes: two of these one-byte contexts
    refs = [served.keep(bytes([n])) for n in range(3)]
    with pytest.raises(ContextForgotten):
        served.take(refs[0])
    assert [served.take(ref) for ref in refs[1:]] == [b"\x01", b"\x02"]


def test_no_references_without_room_and_none_shared_between_services() -> None:
    assert ServedContexts(0).keep(b"context") == b""
    assert ServedContexts(4).keep(b"12345") == b""  # larger than the bound: never held
    with pytest.raises(ContextForgotten):
        ServedContexts(0).take(b"anything")
    # A restarted service (or another task) must never take a reference it did not give.
    assert ServedContexts(4).keep(b"a") != ServedContexts(4).keep(b"a")


def test_a_record_written_with_its_served_context_has_the_bytes_of_one_that_carries_it() -> None:
    context = pb.LoginContext(
        past_logins=pb.LoginHistory(event_id=["e-1", "e-2"], timestamp=[1.5, float("nan")],
                                    asn=[64500, 0], risk=[0.25, -0.0]),
        neighbors=[pb.Neighbor(link=pb.LINK_KIND_IP, user_id="bob", logins=3, max_risk=0.7)],
        velocity=pb.Velocity(user_attempts=2, window_seconds=3600),
        ip_users=2,
    )
    carried = make_record("d-1")
    carried.context.CopyFrom(context)
    # What the router sends back parses to the same message: the served bytes stand for it.
    served = context.SerializeToString(deterministic=True)
    assert canonical_record(make_record("d-1"), served) == canonical_record(carried)
    assert canonical_record(make_record("d-1")) != canonical_record(carried)
