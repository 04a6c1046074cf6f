"""Validation of an incoming LoginEvent: every problem names the offending field."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from aegis.v1 import common_pb2 as pb
from aegis_domain.countries import country_codes
from aegis_runtime.errors import InvalidArgument

# Bounds on free-text fields: generous for real traffic, tight enough to stop abuse of the
# audit log and the index (a 1 MB "user agent" must not be stored thousands of times).
MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 256
MAX_USER_AGENT_LENGTH = 1024
MAX_FAILED_ATTEMPTS = 1_000_000
# The longest textual IPv6 address (an IPv4-mapped one written in full) is 45 characters.
MAX_IP_LENGTH = 45
# google.protobuf.Timestamp's own range, 0001-01-01 to 9999-12-31: outside it the message
# cannot even be printed (ToJsonString raises), let alone stored.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
_ID_FIELDS = ("event_id", "user_id", "session_id", "device_id")
# Free text as the browser reported it; limits by field, control characters refused in all:
# a line feed or NUL in the audit log or the index is an injection, not a city name.
_TEXT_FIELDS = {
    "region": MAX_TEXT_LENGTH,
    "city": MAX_TEXT_LENGTH,
    "browser": MAX_TEXT_LENGTH,
    "os": MAX_TEXT_LENGTH,
    "user_agent": MAX_USER_AGENT_LENGTH,
}


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Accepted event timestamps, in UTC seconds since the epoch."""

    earliest: float
    latest: float


def enum_known(enum_type, value: int) -> bool:
    """Whether `value` is one of the protobuf enum's values (proto3 keeps unknown ones)."""
    # The descriptor's own map: values() builds a list on every call (twice a Score).
    return value in enum_type.DESCRIPTOR.values_by_number


def validate_event(event: pb.LoginEvent, window: TimeWindow, prefix: str = "event") -> None:
    """Raise InvalidArgument naming the first bad field of `event`. Drops the fields this
    build does not know: the event goes on to the audit log, which must store only what was
    checked here (an unknown field of 3 MB would be carried into every later context)."""
    event.DiscardUnknownFields()

    def bad(name: str, message: str) -> InvalidArgument:
        return InvalidArgument(f"{prefix}.{name}", message)

    for name in ("event_id", "user_id"):
        if not getattr(event, name).strip():
            raise bad(name, "is required")
    limits = {name: MAX_ID_LENGTH for name in _ID_FIELDS} | _TEXT_FIELDS
    for name, limit in limits.items():
        problem = text_problem(getattr(event, name), limit)
        if problem:
            raise bad(name, problem)

    if not event.ip:
        raise bad("ip", "is required")
    problem = ip_problem(event.ip)
    if problem:
        raise bad("ip", problem)

    if event.country and event.country not in country_codes():
        raise bad("country", _country_problem(event.country))

    if not event.HasField("timestamp"):
        raise bad("timestamp", "is required")
    problem = timestamp_problem(event.timestamp)
    if problem:
        raise bad("timestamp", problem)
    seconds = event.timestamp.seconds + event.timestamp.nanos / 1e9
    if not window.earliest <= seconds <= window.latest:
        raise bad(
            "timestamp",
            f"{event.timestamp.ToJsonString()} is outside the accepted range "
            f"[{_iso(window.earliest)}, {_iso(window.latest)}]",
        )

    if not enum_known(pb.DeviceType, event.device_type):
        raise bad("device_type", f"unknown value {event.device_type}")
    if not enum_known(pb.AuthMethod, event.auth_method):
        raise bad("auth_method", f"unknown value {event.auth_method}")
    if event.failed_attempts_before > MAX_FAILED_ATTEMPTS:
        raise bad("failed_attempts_before", f"at most {MAX_FAILED_ATTEMPTS}")

    if event.HasField("round_trip_time_ms") and not (
        math.isfinite(event.round_trip_time_ms) and event.round_trip_time_ms >= 0
    ):
        raise bad("round_trip_time_ms", "must be a finite number >= 0")
    if event.HasField("latitude") != event.HasField("longitude"):
        missing = "longitude" if event.HasField("latitude") else "latitude"
        raise bad(missing, "latitude and longitude come together")
    if event.HasField("latitude"):
        if not (math.isfinite(event.latitude) and -90 <= event.latitude <= 90):
            raise bad("latitude", "must be within [-90, 90]")
        if not (math.isfinite(event.longitude) and -180 <= event.longitude <= 180):
            raise bad("longitude", "must be within [-180, 180]")
    if event.HasField("accuracy_radius_km") and not (
        math.isfinite(event.accuracy_radius_km) and 0 <= event.accuracy_radius_km <= 20_000
    ):
        raise bad("accuracy_radius_km", "must be within [0, 20000]")


def text_problem(value: str, limit: int) -> str:
    """What is wrong with a text field, or "" when nothing is."""
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit}"
    if not value.isprintable():
        return "contains control characters"
    return ""


def ip_problem(ip: str) -> str:
    """What is wrong with an IP address, or "" when nothing is. Plain addresses only: a zone
    id (fe80::1%eth0) names an interface of the sender's host, and carried anything."""
    shown = repr(ip[:64])
    if len(ip) > MAX_IP_LENGTH or "%" in ip:
        return f"{shown} is not a plain IPv4 or IPv6 address (no zone id, at most " \
               f"{MAX_IP_LENGTH} characters)"
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return f"{shown} is not an IPv4 or IPv6 address"
    return ""


def timestamp_problem(ts: Timestamp) -> str:
    """What is wrong with a Timestamp's own fields, or "" when nothing is."""
    if not 0 <= ts.nanos < 1_000_000_000:
        return f"nanos {ts.nanos} is outside [0, 999999999]"
    if not MIN_TIMESTAMP_SECONDS <= ts.seconds <= MAX_TIMESTAMP_SECONDS:
        return f"seconds {ts.seconds} is outside the years 1 to 9999"
    return ""


def _country_problem(country: str) -> str:
    # Never normalised: the audit record keeps the event as it came, so a lower-case code is
    # refused with the spelling to send instead.
    shown = f"{country[:16]!r} is not an ISO 3166-1 alpha-2 country code"
    if country.upper() in country_codes():
        return f"{shown}: codes are upper case ({country.upper()!r})"
    return shown


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
