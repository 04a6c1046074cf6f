"""The audit service's GetContext answers as the router reads them: each context left as the
bytes it came in.

Of a context (up to 50 past logins in columns and the neighbourhood, ~17 KB) the router reads
only the velocity counts, for the policy; the agents and the audit record take the context
whole. Parsed into a LoginContext and serialized again into every AssessRequest, it cost the
router ~25 us a Score to parse and as much again to serialize; read here, ~1 us. The view
types are the audit's own messages with their `context` field declared `bytes`, which protobuf
encodes alike (a length-delimited field), so they read the same answers, on a lane or unary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor

from aegis.v1 import audit_pb2, common_pb2
from aegis_domain.convert import velocity_from_proto
from aegis_domain.types import Velocity

_PACKAGE = "aegis.router.views"
_BYTES = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES


class ServedContext(Protocol):
    """One GetContextResponse, its context as bytes (a serialized LoginContext)."""

    context: bytes
    decided: common_pb2.Decision
    error: common_pb2.ItemError
    context_ref: bytes

    def HasField(self, name: str) -> bool: ...


class ServedContexts(Protocol):
    """A GetContextBatchResponse of ServedContext items."""

    items: Sequence[ServedContext]


def _view(
    file: descriptor_pb2.FileDescriptorProto, message: Descriptor, name: str,
    retyped: dict[str, str | None], kept: frozenset[str] | None = None,
) -> None:
    """`message` as `name` in `file`: the fields of `retyped` of the view type named (None:
    bytes), only the fields `kept` where given (the others read as unknown fields)."""
    view = file.message_type.add()
    message.CopyToProto(view)
    view.name = name
    fields = [field for field in view.field if kept is None or field.name in kept]
    for field in fields:
        if field.name in retyped:
            type_name = retyped[field.name]
            if type_name is None:
                field.type = _BYTES
                field.ClearField("type_name")
            else:
                field.type_name = f".{_PACKAGE}.{type_name}"
    del view.field[:]
    view.field.extend(fields)


def _classes() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="router_service/context_view.proto", package=_PACKAGE, syntax="proto3",
        dependency=[audit_pb2.DESCRIPTOR.name, common_pb2.DESCRIPTOR.name],
    )
    _view(file, audit_pb2.GetContextResponse.DESCRIPTOR, "ServedContext", {"context": None})
    _view(file, audit_pb2.GetContextBatchResponse.DESCRIPTOR, "ServedContexts",
          {"items": "ServedContext"})
    _view(file, audit_pb2.GetContextStreamResponse.DESCRIPTOR, "ServedContextStream",
          {"batch": "ServedContexts"})
    _view(file, common_pb2.LoginContext.DESCRIPTOR, "Velocity", {}, frozenset({"velocity"}))
    pool = descriptor_pool.Default()
    pool.Add(file)
    return {
        message.name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"{_PACKAGE}.{message.name}"))
        for message in file.message_type
    }


_CLASSES = _classes()
# GetContextBatch's answer, unary and on its lane's stream (router_service.lane).
SERVED_CONTEXTS: Any = _CLASSES["ServedContexts"]
SERVED_CONTEXT_STREAM: Any = _CLASSES["ServedContextStream"]
_VELOCITY: Any = _CLASSES["Velocity"]


def served_contexts(data: bytes) -> ServedContexts:
    """A serialized GetContextBatchResponse, read as the router reads it."""
    return cast(ServedContexts, SERVED_CONTEXTS.FromString(data))


def served_velocity(context: bytes) -> Velocity:
    """The velocity counts of a serialized LoginContext, the rest of it left unread."""
    return velocity_from_proto(_VELOCITY.FromString(context).velocity)
