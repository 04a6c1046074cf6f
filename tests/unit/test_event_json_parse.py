"""Parsing an event object in one go gives what parsing it field by field gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aegis.v1 import common_pb2 as pb
from router_service.client.eventjson import parse_fields, parse_message

_BY_NAME = {f.name: f for f in pb.LoginEvent.DESCRIPTOR.fields}
VALID = {
    "event_id": "e-1", "timestamp": "2024-05-01T08:30:00.250Z", "user_id": "alice",
    "ip": "81.166.1.2", "country": "NO", "asn": 2119, "device_type": "DEVICE_TYPE_MOBILE",
    "login_successful": True, "round_trip_time_ms": 310.0, "auth_method": 1,
    "failed_attempts_before": 2, "latitude": 59.9, "longitude": 10.7,
}
# Values valid for some fields and not for others.
_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
    st.sampled_from(["", "NaN", "1.5", "12", "DEVICE_TYPE_MOBILE", "not a time"]),
    st.text(max_size=4), st.lists(st.integers(), max_size=2),
)


@st.composite
def event_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event in either naming per field, then a few changes: a field under its other
    name too, an unknown key, a value of another type."""
    obj = {
        draw(st.sampled_from([name, _BY_NAME[name].json_name])): value
        for name, value in VALID.items()
    }
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(sorted(VALID)))
        key = draw(st.sampled_from([name, _BY_NAME[name].json_name, "unknown"]))
        obj[key] = draw(st.one_of(st.just(VALID[name]), _VALUES))
    return obj


@settings(max_examples=300, deadline=None)
@given(event_objects())
def test_one_go_equals_field_by_field(obj: dict[str, Any]) -> None:
    fast, slow = pb.LoginEvent(), pb.LoginEvent()
    assert parse_message(obj, fast) == parse_fields(obj, slow)
    assert fast == slow
