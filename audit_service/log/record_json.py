"""The protobuf JSON mapping of a message, exactly as json_format.MessageToDict gives it with
the .proto field names, at a fraction of its cost: each message type's fields are resolved
once to one converter each, instead of json_format's dispatch on every field of every
record. A type with a field this module does not convert itself (a closed enum, an enum
with JSON options, a 32-bit float) is left to json_format whole."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

Convert = Callable[[Any], Any]
# One field's way to JSON: its name, its converter of one value (None: the value as it is),
# and whether it is a map, a list or a single value.
_Step = tuple[str, Convert | None, str]
_SINGLE, _LIST, _MAP = "single", "list", "map"
_FLOAT_TEXT = {math.inf: "Infinity", -math.inf: "-Infinity"}
# Message type -> its fields' steps, or None when json_format converts it.
_plans: dict[Descriptor, dict[FieldDescriptor, _Step] | None] = {}


def message_to_dict(message: Message, skip: str = "") -> dict[str, Any]:
    """json_format.MessageToDict(message, preserving_proto_field_name=True), without the
    field named `skip`."""
    descriptor = message.DESCRIPTOR
    plan = _plans[descriptor] if descriptor in _plans else _plan(descriptor)
    if plan is None:
        body = json_format.MessageToDict(message, preserving_proto_field_name=True)
        body.pop(skip, None)
        return body
    converted: dict[str, Any] = {}
    for field, value in message.ListFields():
        name, convert, shape = plan[field]
        if name == skip:
            continue
        try:
            if convert is None:
                converted[name] = list(value) if shape is _LIST else value
            elif shape is _SINGLE:
                converted[name] = convert(value)
            elif shape is _LIST:
                converted[name] = [convert(item) for item in value]
            else:
                converted[name] = {_map_key(key): convert(value[key]) for key in value}
        except ValueError as exc:  # a Timestamp out of range, as json_format says it
            raise json_format.SerializeToJsonError(
                f"Failed to serialize {name} field: {exc}."
            ) from exc
    return converted


def _plan(descriptor: Descriptor) -> dict[FieldDescriptor, _Step] | None:
    steps: dict[FieldDescriptor, _Step] = {}
    for field in descriptor.fields:
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            convert, shape = _value_converter(entry.fields_by_name["value"]), _MAP
        else:
            convert, shape = _value_converter(field), _LIST if field.is_repeated else _SINGLE
        if convert is None:
            _plans[descriptor] = None
            return None
        # Strings, bools and 32-bit integers are their own JSON: no call per value.
        steps[field] = (field.name, None if convert is _same and shape is not _MAP else convert,
                        shape)
    _plans[descriptor] = steps
    return steps


def _value_converter(field: FieldDescriptor) -> Convert | None:
    """One value of `field` as json_format's _FieldToJsonObject converts it; None where
    this module leaves the type to json_format."""
    cpp_type = field.cpp_type
    if cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        name = field.message_type.full_name
        if name == "google.protobuf.Timestamp":
            return _timestamp
        if name.startswith("google.protobuf."):
            return _well_known
        return message_to_dict
    if cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        enum = field.enum_type
        if enum.is_closed or enum.full_name == "google.protobuf.NullValue" or any(
            value.GetOptions().ListFields() for value in enum.values
        ):
            return None
        names = {value.number: value.name for value in enum.values}
        return lambda number: names.get(number, number)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _bytes
    return _SCALARS.get(cpp_type)


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _timestamp(value: Any) -> str:
    return str(value.ToJsonString())


def _well_known(value: Message) -> Any:
    return json_format.MessageToDict(value, preserving_proto_field_name=True)


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("utf-8")


def _double(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    return _FLOAT_TEXT.get(value, value)


def _same(value: Any) -> Any:
    return value


_SCALARS: dict[int, Convert] = {
    FieldDescriptor.CPPTYPE_STRING: _same,
    FieldDescriptor.CPPTYPE_BOOL: _same,
    FieldDescriptor.CPPTYPE_INT32: _same,
    FieldDescriptor.CPPTYPE_UINT32: _same,
    FieldDescriptor.CPPTYPE_INT64: str,
    FieldDescriptor.CPPTYPE_UINT64: str,
    FieldDescriptor.CPPTYPE_DOUBLE: _double,
}
