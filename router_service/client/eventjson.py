"""Protobuf JSON <-> messages, strictly: every unknown or malformed field is named."""

from __future__ import annotations

import functools
import json
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from aegis.v1 import common_pb2 as pb
from router_service.client.rows import Labels, Problem

M = TypeVar("M", bound=Message)

# The key of a JSONL line that carries ground truth beside the event's own fields.
LABELS_KEY = "labels"
_LABEL_FIELDS = ("is_attack_ip", "is_account_takeover")


def to_json_dict(message: Message) -> dict[str, Any]:
    """Proto3 JSON with the .proto field names (snake_case), as every aegis output writes it."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def to_json_text(message: Message, indent: int | None = None) -> str:
    """to_json_dict as text."""
    return json.dumps(to_json_dict(message), indent=indent, ensure_ascii=False)


def parse_message(obj: Any, message: M) -> list[Problem]:
    """Fill `message` from a JSON object; one Problem per bad field.

    Each problem names its field, and all of them are reported at once; either JSON name
    (camelCase or snake_case) is accepted, not both.
    """
    if not isinstance(obj, dict):
        return [Problem("", f"expected a JSON object, got {type(obj).__name__}")]
    # A valid object (nearly every line of a file) in one go: a parse per field cost three
    # times as much, and most of a replay client's CPU. ParseDict refuses what the loop of
    # parse_fields refuses (unknown names, bad values) but a field given under both names,
    # and fills the same fields; that loop runs only to name each problem.
    by_name = _fields_by_name(message.DESCRIPTOR)
    if len({by_name[key].name for key in obj if key in by_name}) == len(obj):
        whole = type(message)()
        try:
            json_format.ParseDict(obj, whole)
        except _REFUSED:
            pass
        else:
            message.MergeFrom(whole)
            return []
    return parse_fields(obj, message)


# What ParseDict raises for a bad value: ParseError, and OverflowError where protobuf turns a
# non-finite number into an enum or integer (`"deviceType": Infinity` is valid to json.loads).
_REFUSED = (json_format.ParseError, OverflowError)


@functools.cache
def _fields_by_name(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """A message's fields under both their JSON names (snake_case and camelCase)."""
    return {f.name: f for f in descriptor.fields} | {f.json_name: f for f in descriptor.fields}


def parse_fields(obj: dict[str, Any], message: M) -> list[Problem]:
    """parse_message field by field: one Problem per bad field."""
    fields = message.DESCRIPTOR.fields
    by_name = _fields_by_name(message.DESCRIPTOR)
    problems: list[Problem] = []
    seen: set[str] = set()
    for key, value in obj.items():
        field = by_name.get(key)
        if field is None:
            known = ", ".join(f.name for f in fields)
            problems.append(Problem(key, f"unknown field (known: {known})"))
            continue
        if field.name in seen:
            problems.append(Problem(field.name, "given twice (camelCase and snake_case)"))
            continue
        seen.add(field.name)
        part = type(message)()
        try:
            json_format.ParseDict({key: value}, part)
        except _REFUSED as exc:
            problems.append(Problem(field.name, _parse_error_detail(exc, value)))
            continue
        message.MergeFrom(part)
    return problems


def _parse_error_detail(exc: Exception, value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{shown} is not valid here ({exc})"


def parse_event_object(obj: Any) -> tuple[pb.LoginEvent, Labels | None, list[Problem]]:
    """A LoginEvent from a decoded JSON object with an optional `labels` key beside it."""
    event = pb.LoginEvent()
    if isinstance(obj, dict) and LABELS_KEY in obj:
        obj = dict(obj)
        labels, problems = _parse_labels(obj.pop(LABELS_KEY))
    else:
        labels, problems = None, []
    problems += parse_message(obj, event)
    return event, labels, problems


def _parse_labels(obj: Any) -> tuple[Labels | None, list[Problem]]:
    expected = f"an object with booleans {', '.join(_LABEL_FIELDS)}"
    if (
        not isinstance(obj, dict)
        or set(obj) != set(_LABEL_FIELDS)
        or not all(isinstance(obj[k], bool) for k in _LABEL_FIELDS)
    ):
        return None, [Problem(LABELS_KEY, f"must be {expected}")]
    return Labels(obj["is_attack_ip"], obj["is_account_takeover"]), []


def event_json_line(event: pb.LoginEvent, labels: Labels | None) -> str:
    """One JSONL line: the event's fields, plus `labels` when ground truth is known."""
    obj = to_json_dict(event)
    if labels is not None:
        obj[LABELS_KEY] = labels.to_json()
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
