"""An input record's bytes -> LoginEvent, in either format the input stream accepts."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from aegis.v1 import common_pb2


class PoisonRecord(Exception):
    """A record that can never become a decision; its message is the dead letter's reason."""


# A protobuf LoginEvent never starts with "{" (0x7B would be field 15 as a group, which
# proto3 does not have), so the first byte tells the formats apart.
_JSON_START = b"{"


def parse_login(data: bytes) -> common_pb2.LoginEvent:
    """The LoginEvent a record carries: a serialized LoginEvent, or one JSON object (proto3
    JSON, either field spelling). Raises PoisonRecord saying why it is neither."""
    event = common_pb2.LoginEvent()
    try:
        if data.lstrip().startswith(_JSON_START):
            json_format.Parse(data.decode("utf-8"), event)
        else:
            event.ParseFromString(data)
    except (json_format.ParseError, DecodeError, UnicodeDecodeError) as exc:
        raise PoisonRecord(f"unparseable record: {exc}") from exc
    if not event.event_id or not event.user_id:
        raise PoisonRecord("record has no event_id or user_id")
    return event
