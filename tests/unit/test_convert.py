"""Protobuf <-> domain conversion: every field survives the round trip, in both directions."""

from __future__ import annotations

import dataclasses

from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import (
    context_from_proto,
    context_to_proto,
    event_from_proto,
    event_to_proto,
)
from aegis_domain.types import (
    Action,
    AuthMethod,
    DeviceType,
    LinkKind,
    LoginContext,
    LoginEvent,
    Neighbor,
    PastLogin,
    Velocity,
)


def full_event(n: int = 1) -> LoginEvent:
    """Every field set, each to a value no other field has: a field read into the wrong slot
    cannot go unnoticed."""
    return LoginEvent(
        event_id=f"ev-{n}", timestamp=1_780_000_000.25 + n, user_id=f"user-{n}",
        ip=f"192.0.2.{n}", session_id=f"session-{n}", device_id=f"device-{n}", country="NO",
        region="Oslo", city="Oslo city", asn=64_500 + n, user_agent="Mozilla/5.0",
        browser="Firefox", os="Linux", device_type=DeviceType.MOBILE, login_successful=True,
        round_trip_time_ms=123.5, auth_method=AuthMethod.PASSKEY, failed_attempts_before=3,
        latitude=59.91, longitude=10.75, accuracy_radius_km=5.5,
    )


def test_an_event_with_every_field_set_round_trips() -> None:
    event = full_event()
    assert event_from_proto(event_to_proto(event)) == event
    assert all(value not in (None, "", 0) for value in dataclasses.astuple(event))


def test_absent_optional_floats_stay_absent() -> None:
    message = event_to_proto(full_event())
    for name in ("round_trip_time_ms", "latitude", "longitude", "accuracy_radius_km"):
        message.ClearField(name)
    event = event_from_proto(message)
    assert (event.round_trip_time_ms, event.latitude, event.longitude,
            event.accuracy_radius_km) == (None, None, None, None)


def test_a_context_round_trips() -> None:
    context = LoginContext(
        history=[PastLogin(event=full_event(n), action=Action.CHALLENGE, risk=0.1 * n)
                 for n in range(1, 4)],
        neighbors=[Neighbor(link=LinkKind.IP, user_id="bob", logins=4, failures=1, flagged=2,
                            max_risk=0.7, last_seen=1_780_000_100.5)],
        velocity=Velocity(user_attempts=5, user_failures=1, ip_attempts=9, ip_failures=2,
                          ip_distinct_users=3, device_distinct_users=2, window_seconds=3600),
        device_users=2, ip_users=3, asn_users=40, history_truncated=True,
    )
    assert context_from_proto(context_to_proto(context)) == context
    assert isinstance(context_to_proto(context), pb.LoginContext)
