"""One LoginEvent from the command line: a JSON file (or stdin), flags, or both (flags win)."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from aegis.v1 import common_pb2 as pb
from aegis_cli.argtypes import utc_datetime
from aegis_cli.errors import USAGE, CliError
from aegis_cli.readers import accepted_window
from aegis_domain.validation import validate_event
from aegis_runtime.errors import InvalidArgument
from router_service.client.eventjson import parse_event_object, parse_message
from router_service.client.rows import Problem

DEVICE_TYPES = {
    name.removeprefix("DEVICE_TYPE_").lower(): value
    for name, value in pb.DeviceType.items()
    if value != pb.DEVICE_TYPE_UNSPECIFIED
}
AUTH_METHODS = {
    name.removeprefix("AUTH_METHOD_").lower(): value
    for name, value in pb.AuthMethod.items()
    if value != pb.AUTH_METHOD_UNSPECIFIED
}

# Flag destination -> LoginEvent field, for the flags copied as they are.
_PLAIN_FLAGS = {
    "event_id": "event_id",
    "user": "user_id",
    "session_id": "session_id",
    "device_id": "device_id",
    "ip": "ip",
    "country": "country",
    "region": "region",
    "city": "city",
    "asn": "asn",
    "user_agent": "user_agent",
    "browser": "browser",
    "os": "os",
    "login_successful": "login_successful",
    "failed_attempts": "failed_attempts_before",
    "rtt_ms": "round_trip_time_ms",
    "lat": "latitude",
    "lon": "longitude",
    "accuracy_km": "accuracy_radius_km",
}


def add_event_options(parser: argparse.ArgumentParser) -> None:
    """--json-file and one flag per LoginEvent field."""
    group = parser.add_argument_group(
        "event", "from --json-file (protobuf JSON; - for stdin) and/or flags; a flag overrides "
        "the file's field. Defaults: event id a new uuid, timestamp now, login successful."
    )
    group.add_argument("--json-file", metavar="PATH", help="LoginEvent in protobuf JSON")
    group.add_argument("--event-id")
    group.add_argument("--timestamp", type=utc_datetime, metavar="ISO8601",
                       help="e.g. 2024-05-01T08:30:00Z; no offset means UTC")
    group.add_argument("--user", metavar="USER_ID")
    group.add_argument("--session-id")
    group.add_argument("--device-id", help="device fingerprint")
    group.add_argument("--ip")
    group.add_argument("--country", help="ISO 3166-1 alpha-2 in upper case, e.g. NO")
    group.add_argument("--region")
    group.add_argument("--city")
    group.add_argument("--asn", type=int)
    group.add_argument("--user-agent")
    group.add_argument("--browser")
    group.add_argument("--os")
    group.add_argument("--device-type", choices=sorted(DEVICE_TYPES))
    group.add_argument("--auth-method", choices=sorted(AUTH_METHODS))
    group.add_argument("--successful", dest="login_successful",
                       action=argparse.BooleanOptionalAction, default=None,
                       help="whether the login succeeded (default: yes without --json-file)")
    group.add_argument("--failed-attempts", type=int, metavar="N",
                       help="failed attempts just before this one")
    group.add_argument("--rtt-ms", type=float, help="round-trip time in milliseconds")
    group.add_argument("--lat", type=float, help="latitude (with --lon)")
    group.add_argument("--lon", type=float, help="longitude (with --lat)")
    group.add_argument("--accuracy-km", type=float, help="geolocation accuracy radius")


def event_from_args(args: argparse.Namespace) -> pb.LoginEvent:
    """The event the options describe. Field checks are the router's (it names the field)."""
    event = pb.LoginEvent()
    if args.json_file is not None:
        obj = load_json(args.json_file)
        parsed, _ground_truth, problems = parse_event_object(obj)
        _refuse(args.json_file, problems)
        event.CopyFrom(parsed)
    for flag, name in _PLAIN_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            try:
                setattr(event, name, value)
            except ValueError as exc:
                flag_name = "--" + flag.replace("_", "-")
                raise CliError(f"{flag_name}: {exc}", USAGE) from None
    if args.device_type is not None:
        event.device_type = DEVICE_TYPES[args.device_type]
    if args.auth_method is not None:
        event.auth_method = AUTH_METHODS[args.auth_method]
    if args.timestamp is not None:
        event.timestamp.FromDatetime(args.timestamp)
    if not event.HasField("timestamp"):
        event.timestamp.FromDatetime(datetime.now(UTC))
    if not event.event_id:
        event.event_id = str(uuid.uuid4())
    if args.json_file is None and args.login_successful is None:
        event.login_successful = True
    return event


def refuse_invalid(event: pb.LoginEvent) -> None:
    """The router's own checks, before anything is sent: for calls that bypass it (an agent
    trusts its caller), and so that an event too large for a gRPC message (a 10 MB user
    agent) is refused naming its field rather than failing as RESOURCE_EXHAUSTED."""
    try:
        validate_event(event, accepted_window())
    except InvalidArgument as exc:
        raise CliError(f"invalid event: {exc.message}", USAGE,
                       details={"field": exc.field}) from None


def load_message(path: str, message: Message) -> None:
    """Fill `message` from a protobuf JSON file, refusing it with every bad field named."""
    _refuse(path, parse_message(load_json(path), message))


def load_json(path: str) -> Any:
    """A JSON document from a file, or stdin for -."""
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}", USAGE) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: not valid JSON: {exc}", USAGE) from None


def _refuse(path: str, problems: list[Problem]) -> None:
    if problems:
        raise CliError(f"{path}: " + "; ".join(str(p) for p in problems), USAGE)
