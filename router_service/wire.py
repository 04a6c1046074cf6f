"""Batch requests assembled from items serialized once.

A Score's AssessRequest goes to every agent, and its context (up to 50 past logins and the
neighbourhood) is most of it: building each agent's AssessBatchRequest from messages copied
and serialized the context once per agent. Serialized once, an item is framed as one element
of the batch's repeated `items` field; a batch is its items' concatenation, which is how
protobuf encodes a repeated message field, so the bytes on the wire are those of the message.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf.message import Message

_LENGTH_DELIMITED = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (a message, bytes) as it is encoded inside its message."""
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


class BatchFraming:
    """Frames items of the repeated message field `items` of a batch request type."""

    def __init__(self, batch_type: type[Message]) -> None:
        self._number = batch_type.DESCRIPTOR.fields_by_name["items"].number

    def item(self, message: Message) -> bytes:
        """One item, serialized and framed."""
        return self.framed(message.SerializeToString())

    def framed(self, item: bytes) -> bytes:
        """One item serialized already, framed."""
        return field(self._number, item)

    @staticmethod
    def batch(items: Sequence[bytes]) -> bytes:
        """The serialized batch request of these framed items."""
        return b"".join(items)


def message_bytes(message_type: type[Message], **fields: Message | bytes) -> bytes:
    """`message_type(**fields).SerializeToString()` for message-typed fields, each given as
    a message or already serialized, without copying each into a new message first (a Score's
    context is most of its AssessRequest): a message is its fields' concatenation, in
    field-number order as protobuf writes them."""
    numbers = message_type.DESCRIPTOR.fields_by_name
    return b"".join(
        field(numbers[name].number, _serialized(fields[name]))
        for name in sorted(fields, key=lambda name: numbers[name].number)
    )


def _serialized(value: Message | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.SerializeToString()


def raw_request_method(
    channel: grpc.aio.Channel, path: str, response_type: type[Message]
) -> grpc.aio.UnaryUnaryMultiCallable:
    """A unary method whose request is passed already serialized (bytes)."""
    return channel.unary_unary(
        path, request_serializer=None, response_deserializer=response_type.FromString
    )
