"""Event validation: every rejection names the offending field."""

import time

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import event_from_proto, event_to_proto, seconds_to_timestamp
from aegis_domain.countries import country_codes
from aegis_domain.validation import TimeWindow, validate_event
from aegis_runtime.errors import InvalidArgument

NOW = time.time()
WINDOW = TimeWindow(NOW - 86_400, NOW + 300)


def good_event(**changes) -> pb.LoginEvent:
    event = pb.LoginEvent(
        event_id="e-1",
        timestamp=seconds_to_timestamp(NOW),
        user_id="u-1",
        ip="81.167.144.58",
        country="NO",
        asn=29695,
        user_agent="Mozilla/5.0",
        device_type=pb.DEVICE_TYPE_MOBILE,
    )
    for name, value in changes.items():
        if name == "timestamp":
            event.timestamp.CopyFrom(value)
        else:
            setattr(event, name, value)
    return event


def field_of(event: pb.LoginEvent) -> str:
    with pytest.raises(InvalidArgument) as caught:
        validate_event(event, WINDOW)
    return caught.value.field


def test_good_event_passes() -> None:
    validate_event(good_event(), WINDOW)
    validate_event(good_event(ip="2001:db8::1", latitude=59.9, longitude=10.7), WINDOW)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"user_id": ""}, "event.user_id"),
        ({"user_id": "   "}, "event.user_id"),
        ({"event_id": ""}, "event.event_id"),
        ({"user_id": "u" * 129}, "event.user_id"),
        ({"device_id": "dev\x00ice"}, "event.device_id"),
        ({"ip": "999.1.1.1"}, "event.ip"),
        ({"ip": "not-an-ip"}, "event.ip"),
        ({"ip": ""}, "event.ip"),
        ({"country": "Norway"}, "event.country"),
        ({"country": "no"}, "event.country"),
        ({"timestamp": seconds_to_timestamp(NOW - 3 * 86_400)}, "event.timestamp"),
        ({"timestamp": seconds_to_timestamp(NOW + 3600)}, "event.timestamp"),
        ({"device_type": 42}, "event.device_type"),
        ({"auth_method": 99}, "event.auth_method"),
        ({"user_agent": "x" * 1025}, "event.user_agent"),
        ({"city": "x" * 257}, "event.city"),
        ({"round_trip_time_ms": -1.0}, "event.round_trip_time_ms"),
        ({"round_trip_time_ms": float("nan")}, "event.round_trip_time_ms"),
        ({"latitude": 91.0, "longitude": 0.0}, "event.latitude"),
        ({"latitude": 10.0}, "event.longitude"),
        ({"accuracy_radius_km": -5.0}, "event.accuracy_radius_km"),
        ({"failed_attempts_before": 2_000_000}, "event.failed_attempts_before"),
        ({"timestamp": Timestamp(seconds=int(NOW), nanos=-1)}, "event.timestamp"),
        ({"timestamp": Timestamp(seconds=int(NOW), nanos=10**9)}, "event.timestamp"),
        ({"timestamp": Timestamp(seconds=-62_135_596_801)}, "event.timestamp"),
        ({"timestamp": Timestamp(seconds=253_402_300_800)}, "event.timestamp"),
        ({"ip": "fe80::1%eth0"}, "event.ip"),
        ({"ip": "fe80::1%" + "x" * 1_000_000}, "event.ip"),
        ({"ip": "1.2.3.4\n"}, "event.ip"),
        ({"ip": "0:0:0:0:0:ffff:" + "0" * 40 + "1.2.3.4"}, "event.ip"),
        ({"country": "N\x00"}, "event.country"),
        ({"city": "Oslo\nadmin"}, "event.city"),
        ({"region": "\x00"}, "event.region"),
        ({"browser": "Firefox\r"}, "event.browser"),
        ({"os": "iOS\x1b[2J"}, "event.os"),
        ({"user_agent": "Mozilla/5.0\x00"}, "event.user_agent"),
    ],
)
def test_bad_field_is_named(changes: dict, field: str) -> None:
    assert field_of(good_event(**changes)) == field


@pytest.mark.parametrize("code", ["XX", "QQ", "AA", "ZZ", "UK", "EU"])
def test_a_country_outside_iso_3166_1_is_refused(code: str) -> None:
    with pytest.raises(InvalidArgument, match=f"'{code}' is not an ISO 3166-1 alpha-2 country"):
        validate_event(good_event(country=code), WINDOW)


def test_a_lower_case_country_is_refused_with_its_upper_case_spelling() -> None:
    with pytest.raises(InvalidArgument, match=r"event\.country: 'no' .* upper case \('NO'\)"):
        validate_event(good_event(country="no"), WINDOW)


@pytest.mark.parametrize("code", ["NO", "AI", "AQ", "BQ", "SX", "UM", "XK"])
def test_every_iso_3166_1_country_is_accepted(code: str) -> None:
    validate_event(good_event(country=code), WINDOW)


def test_the_country_table_holds_every_officially_assigned_iso_3166_1_code() -> None:
    # 249 officially assigned codes (ISO 3166-1:2020) and XK, which the table documents.
    assert len(country_codes()) == 250
    assert "XK" in country_codes()


@pytest.mark.parametrize("nanos", [-1, 10**9])
def test_a_bad_timestamp_is_refused_with_a_message_that_can_be_made(nanos: int) -> None:
    # Outside its range a Timestamp cannot be printed: the error path must not print it.
    with pytest.raises(InvalidArgument, match=f"nanos {nanos} is outside"):
        validate_event(good_event(timestamp=Timestamp(seconds=int(NOW), nanos=nanos)), WINDOW)


def test_unknown_fields_are_dropped_at_validation() -> None:
    event = good_event()
    # Field 1000, length-delimited, 3 bytes: a field this build does not know.
    event.MergeFromString(event.SerializeToString() + b"\xc2\x3e\x03abc")
    assert len(event.SerializeToString()) > len(good_event().SerializeToString())
    validate_event(event, WINDOW)
    assert event.SerializeToString() == good_event().SerializeToString()


def test_missing_timestamp_is_named() -> None:
    event = good_event()
    event.ClearField("timestamp")
    assert field_of(event) == "event.timestamp"


def test_message_explains_the_range() -> None:
    with pytest.raises(InvalidArgument, match="outside the accepted range"):
        validate_event(good_event(timestamp=seconds_to_timestamp(0)), WINDOW)


def test_domain_round_trip_keeps_every_field() -> None:
    event = good_event(
        latitude=59.9, longitude=10.7, accuracy_radius_km=25.0, round_trip_time_ms=0.0,
        session_id="s", device_id="d", region="Oslo", city="Oslo", browser="Firefox 1",
        os="iOS 13", login_successful=True, auth_method=pb.AUTH_METHOD_PASSKEY,
        failed_attempts_before=2,
    )
    assert event_to_proto(event_from_proto(event)) == event
