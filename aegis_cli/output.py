"""What `--json` prints: one JSON document that scripts can rely on.

Not protobuf JSON (that stays the input format of files and `--json-file`): here every field
is present (zero, empty or null when unset), 64-bit integers are numbers, and enum values are
spelled as the text output spells them (ALLOW, OK), by aegis_domain's enum_name.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from aegis_domain.convert import enum_name

M = TypeVar("M", bound=Message)


def message_json(message: Message) -> dict[str, Any]:
    """Every field of `message` by its .proto name, nested messages likewise."""
    return {field.name: _field_json(message, field) for field in message.DESCRIPTOR.fields}


def _field_json(message: Message, field: FieldDescriptor) -> Any:
    value = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        return {str(key): _value_json(item, value_field) for key, item in value.items()}
    if field.is_repeated:
        return [_value_json(item, field) for item in value]
    if field.has_presence and not message.HasField(field.name):
        return None
    return _value_json(value, field)


def _value_json(value: Any, field: FieldDescriptor) -> Any:
    if field.message_type is not None:
        if field.message_type.full_name.startswith("google.protobuf."):
            # Well-known types keep their JSON form (a Timestamp is an RFC 3339 string).
            return json_format.MessageToDict(value)
        return message_json(value)
    if field.enum_type is not None:
        return enum_name(field.enum_type, value)
    return value


def show(message: M, as_json: bool, text: Callable[[M], str]) -> None:
    """A reply as one JSON document (--json), or as `text` renders it for people."""
    if as_json:
        print_json(message_json(message))
    else:
        print(text(message))


def print_json(document: Any) -> None:
    """One JSON document on stdout."""
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
