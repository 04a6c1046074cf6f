"""Validation of an incoming LoginEvent: every problem names the offending field."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from aegis.v1 import common_pb2 as pb
from aegis_domain.countries import country_codes
from aegis_runtime.errors import InvalidArgument

# Bounds on free-text fields: generous for real traffic, tight enough to stop abuse of the
# audit log and the index (a 1 MB "user agent" must not be stored thousands of times).
MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 256
MAX_USER_AGENT_LENGTH = 1024
MAX_FAILED_ATTEMPTS = 1_000_000
_ID_FIELDS = ("event_id", "user_id", "session_id", "device_id")
_TEXT_FIELDS = ("region", "city", "browser", "os")


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Accepted event timestamps, in UTC seconds since the epoch."""

    earliest: float
    latest: float


def _enum_known(enum_type, value: int) -> bool:
    return value in enum_type.values()


def validate_event(event: pb.LoginEvent, window: TimeWindow, prefix: str = "event") -> None:
    """Raise InvalidArgument naming the first bad field of `event`."""

    def bad(name: str, message: str) -> InvalidArgument:
        return InvalidArgument(f"{prefix}.{name}", message)

    for name in ("event_id", "user_id"):
        if not getattr(event, name).strip():
            raise bad(name, "is required")
    for name in _ID_FIELDS:
        value = getattr(event, name)
        if len(value) > MAX_ID_LENGTH:
            raise bad(name, f"is {len(value)} characters long; at most {MAX_ID_LENGTH}")
        if any(not ch.isprintable() for ch in value):
            raise bad(name, "contains control characters")
    for name in _TEXT_FIELDS:
        value = getattr(event, name)
        if len(value) > MAX_TEXT_LENGTH:
            raise bad(name, f"is {len(value)} characters long; at most {MAX_TEXT_LENGTH}")
    if len(event.user_agent) > MAX_USER_AGENT_LENGTH:
        raise bad(
            "user_agent",
            f"is {len(event.user_agent)} characters long; at most {MAX_USER_AGENT_LENGTH}",
        )

    if not event.ip:
        raise bad("ip", "is required")
    try:
        ipaddress.ip_address(event.ip)
    except ValueError:
        raise bad("ip", f"{event.ip[:64]!r} is not an IPv4 or IPv6 address") from None

    if event.country and event.country not in country_codes():
        raise bad("country", _country_problem(event.country))

    if not event.HasField("timestamp"):
        raise bad("timestamp", "is required")
    seconds = event.timestamp.seconds + event.timestamp.nanos / 1e9
    if not window.earliest <= seconds <= window.latest:
        raise bad(
            "timestamp",
            f"{event.timestamp.ToJsonString()} is outside the accepted range "
            f"[{_iso(window.earliest)}, {_iso(window.latest)}]",
        )

    if not _enum_known(pb.DeviceType, event.device_type):
        raise bad("device_type", f"unknown value {event.device_type}")
    if not _enum_known(pb.AuthMethod, event.auth_method):
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


def _country_problem(country: str) -> str:
    # Never normalised: the audit record keeps the event as it came, so a lower-case code is
    # refused with the spelling to send instead.
    shown = f"{country[:16]!r} is not an ISO 3166-1 alpha-2 country code"
    if country.upper() in country_codes():
        return f"{shown}: codes are upper case ({country.upper()!r})"
    return shown


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
