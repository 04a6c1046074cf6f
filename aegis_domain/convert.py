"""Protobuf <-> domain conversion: the one place that knows both shapes."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import overload

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from aegis.v1 import common_pb2 as pb
from aegis_domain.login_history import COLUMNS, LoginHistory
from aegis_domain.types import (
    Action,
    AgentSignal,
    AuthMethod,
    DeviceType,
    LinkKind,
    LoginContext,
    LoginEvent,
    Neighbor,
    PastLogin,
    Reason,
    SignalStatus,
    Velocity,
)
from aegis_runtime.errors import InvalidArgument

_OPTIONAL_FLOATS = ("round_trip_time_ms", "latitude", "longitude", "accuracy_radius_km")
# Enum members by value, for the hot conversions: every agent converts each login's whole
# history (tens of logins), and calling an Enum class per value cost more than a dict lookup
# by an order of magnitude.
_DEVICE_TYPES = {member.value: member for member in DeviceType}
_AUTH_METHODS = {member.value: member for member in AuthMethod}
_ACTIONS = {member.value: member for member in Action}
_LINK_KINDS = {member.value: member for member in LinkKind}
# The values the converters accept, by protobuf enum: what the domain has a member for.
_DOMAIN_ENUMS: dict[str, Mapping[int, object]] = {
    pb.DeviceType.DESCRIPTOR.full_name: _DEVICE_TYPES,
    pb.AuthMethod.DESCRIPTOR.full_name: _AUTH_METHODS,
    pb.Action.DESCRIPTOR.full_name: _ACTIONS,
    pb.LinkKind.DESCRIPTOR.full_name: _LINK_KINDS,
}


def enum_name(enum_type: EnumTypeWrapper | EnumDescriptor, value: int) -> str:
    """A value's name without its type's prefix (ACTION_ALLOW -> ALLOW, SIGNAL_STATUS_OK ->
    OK): the one spelling people and scripts see. buf's ENUM_VALUE_PREFIX rule guarantees
    the prefix; a value this build does not know shows as its number."""
    descriptor = enum_type if isinstance(enum_type, EnumDescriptor) else enum_type.DESCRIPTOR
    known = descriptor.values_by_number.get(value)
    if known is None:
        return str(value)
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", descriptor.name).upper() + "_"
    return known.name.removeprefix(prefix)


def seconds_to_timestamp(seconds: float) -> Timestamp:
    # Microseconds: a float of epoch seconds holds no finer precision.
    seconds_part, micros = divmod(round(seconds * 1_000_000), 1_000_000)
    return Timestamp(seconds=seconds_part, nanos=micros * 1000)


def timestamp_to_seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def event_from_proto(msg: pb.LoginEvent, prefix: str = "event") -> LoginEvent:
    """Raises InvalidArgument naming an enum field whose value this build does not know
    (`prefix` is the event's path in its request)."""
    try:
        return _event_from_proto(msg)
    except KeyError:
        raise _unknown_enum(msg, prefix) from None


def _event_from_proto(msg: pb.LoginEvent) -> LoginEvent:
    has = msg.HasField
    timestamp = msg.timestamp
    # Positional, in LoginEvent's field order: the hot path of every agent's history.
    return LoginEvent(
        msg.event_id,
        timestamp.seconds + timestamp.nanos / 1e9,
        msg.user_id,
        msg.ip,
        msg.session_id,
        msg.device_id,
        msg.country,
        msg.region,
        msg.city,
        msg.asn,
        msg.user_agent,
        msg.browser,
        msg.os,
        _DEVICE_TYPES[msg.device_type],
        msg.login_successful,
        msg.round_trip_time_ms if has("round_trip_time_ms") else None,
        _AUTH_METHODS[msg.auth_method],
        msg.failed_attempts_before,
        msg.latitude if has("latitude") else None,
        msg.longitude if has("longitude") else None,
        msg.accuracy_radius_km if has("accuracy_radius_km") else None,
    )


def event_to_proto(event: LoginEvent) -> pb.LoginEvent:
    msg = pb.LoginEvent(
        event_id=event.event_id,
        timestamp=seconds_to_timestamp(event.timestamp),
        user_id=event.user_id,
        session_id=event.session_id,
        device_id=event.device_id,
        ip=event.ip,
        country=event.country,
        region=event.region,
        city=event.city,
        asn=event.asn,
        user_agent=event.user_agent,
        browser=event.browser,
        os=event.os,
        device_type=int(event.device_type),
        login_successful=event.login_successful,
        auth_method=int(event.auth_method),
        failed_attempts_before=event.failed_attempts_before,
    )
    for name in _OPTIONAL_FLOATS:
        value = getattr(event, name)
        if value is not None:
            setattr(msg, name, value)
    return msg


def velocity_from_proto(v: pb.Velocity) -> Velocity:
    return Velocity(
        user_attempts=v.user_attempts,
        user_failures=v.user_failures,
        ip_attempts=v.ip_attempts,
        ip_failures=v.ip_failures,
        ip_distinct_users=v.ip_distinct_users,
        device_distinct_users=v.device_distinct_users,
        window_seconds=v.window_seconds,
    )


def context_from_proto(msg: pb.LoginContext, prefix: str = "context") -> LoginContext:
    """Raises InvalidArgument naming an enum field whose value this build does not know, or
    history columns of different lengths."""
    columns = msg.past_logins
    if len({len(getattr(columns, name)) for name in COLUMNS}) > 1:
        raise InvalidArgument(f"{prefix}.past_logins", "columns of different lengths")
    try:
        _check_enums(msg)
        return _context_from_proto(msg)
    except KeyError:
        raise _unknown_enum(msg, prefix) from None


# The history's enum columns, with the values this build knows.
_ENUM_COLUMNS = (
    ("device_type", _DEVICE_TYPES.keys()),
    ("auth_method", _AUTH_METHODS.keys()),
    ("action", _ACTIONS.keys()),
)


def _check_enums(msg: pb.LoginContext) -> None:
    """Columns and neighbours are converted late, by the agents that read them: a value they
    would choke on is found here, up front (KeyError, which context_from_proto names)."""
    columns = msg.past_logins
    for name, known in _ENUM_COLUMNS:
        if not known >= set(getattr(columns, name)):
            raise KeyError(name)
    if not _LINK_KINDS.keys() >= {n.link for n in msg.neighbors}:
        raise KeyError("link")


def _unknown_enum(msg: Message, prefix: str) -> InvalidArgument:
    """The first enum field of `msg` (searched depth first) whose value is not known. Only on
    the error path: the hot conversions look enums up in dicts and fail with a bare KeyError."""
    found = _find_unknown_enum(msg, prefix)
    if found is None:
        return InvalidArgument(prefix, "cannot be converted")
    path, value = found
    return InvalidArgument(path, f"unsupported value {value}")


def _find_unknown_enum(msg: Message, prefix: str) -> tuple[str, int] | None:
    # Every field, set or not: an unset enum is 0, which some domain enums do not have.
    for field in msg.DESCRIPTOR.fields:
        value = getattr(msg, field.name)
        path = f"{prefix}.{field.name}"
        values = list(enumerate(value)) if field.is_repeated else [(None, value)]
        for index, item in values:
            item_path = path if index is None else f"{path}[{index}]"
            if field.enum_type is not None and item not in _DOMAIN_ENUMS.get(
                field.enum_type.full_name, field.enum_type.values_by_number
            ):
                return item_path, item
            if field.message_type is not None and not field.message_type.GetOptions().map_entry:
                found = _find_unknown_enum(item, item_path)
                if found is not None:
                    return found
    return None


def history_from_proto(msg: pb.LoginContext) -> Sequence[PastLogin]:
    """The context's past logins: columns, one C-level copy each; or, in the context of a
    record written before LoginHistory existed, its PastLogin messages."""
    if msg.history:
        return [
            PastLogin(event=_event_from_proto(p.event), action=_ACTIONS[p.action], risk=p.risk)
            for p in msg.history
        ]
    return LoginHistory(msg.past_logins)


def history_to_proto(history: Sequence[PastLogin]) -> pb.LoginHistory:
    columns = LoginHistory.of(history)
    return pb.LoginHistory(**{name: getattr(columns, name) for name in COLUMNS})


class _Neighbors(Sequence[Neighbor]):
    """A context's neighbours, converted on first use: agents that ignore the graph (geo,
    behavior) never pay for it."""

    def __init__(self, messages: Sequence[pb.Neighbor]) -> None:
        self._messages = messages
        self._converted: list[Neighbor] | None = None

    def _list(self) -> list[Neighbor]:
        if self._converted is None:
            self._converted = [
                Neighbor(
                    link=_LINK_KINDS[n.link],
                    user_id=n.user_id,
                    logins=n.logins,
                    failures=n.failures,
                    flagged=n.flagged,
                    max_risk=n.max_risk,
                    last_seen=timestamp_to_seconds(n.last_seen),
                )
                for n in self._messages
            ]
        return self._converted

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[Neighbor]:
        # Sequence's own __iter__ indexes one item at a time: a third of the network agent's
        # reading of its contexts.
        return iter(self._list())

    @overload
    def __getitem__(self, index: int) -> Neighbor: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Neighbor]: ...

    def __getitem__(self, index: int | slice) -> Neighbor | Sequence[Neighbor]:
        return self._list()[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return self._list() == list(other)

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which are not hashable


def _context_from_proto(msg: pb.LoginContext) -> LoginContext:
    return LoginContext(
        history=history_from_proto(msg),
        neighbors=_Neighbors(msg.neighbors),
        velocity=velocity_from_proto(msg.velocity),
        device_users=msg.device_users,
        ip_users=msg.ip_users,
        asn_users=msg.asn_users,
        history_truncated=msg.history_truncated,
        asn_countries=msg.asn_countries,
    )


def context_to_proto(ctx: LoginContext) -> pb.LoginContext:
    v = ctx.velocity
    return pb.LoginContext(
        past_logins=history_to_proto(ctx.history),
        neighbors=[
            pb.Neighbor(
                link=int(n.link),
                user_id=n.user_id,
                logins=n.logins,
                failures=n.failures,
                flagged=n.flagged,
                max_risk=n.max_risk,
                last_seen=seconds_to_timestamp(n.last_seen),
            )
            for n in ctx.neighbors
        ],
        velocity=pb.Velocity(
            user_attempts=v.user_attempts,
            user_failures=v.user_failures,
            ip_attempts=v.ip_attempts,
            ip_failures=v.ip_failures,
            ip_distinct_users=v.ip_distinct_users,
            device_distinct_users=v.device_distinct_users,
            window_seconds=v.window_seconds,
        ),
        device_users=ctx.device_users,
        ip_users=ctx.ip_users,
        asn_users=ctx.asn_users,
        history_truncated=ctx.history_truncated,
        asn_countries=ctx.asn_countries,
    )


def reason_to_proto(reason: Reason) -> pb.Reason:
    return pb.Reason(code=reason.code, message=reason.message, weight=reason.weight)


def reason_from_proto(msg: pb.Reason) -> Reason:
    return Reason(code=msg.code, message=msg.message, weight=msg.weight)


def signal_to_proto(signal: AgentSignal) -> pb.AgentSignal:
    return pb.AgentSignal(
        agent=signal.agent,
        status=int(signal.status),
        risk=signal.risk,
        confidence=signal.confidence,
        reasons=[reason_to_proto(r) for r in signal.reasons],
        model_version=signal.model_version,
        latency_ms=signal.latency_ms,
        detail=signal.detail,
        batch_size=signal.batch_size,
    )


def signal_from_proto(msg: pb.AgentSignal) -> AgentSignal:
    return AgentSignal(
        agent=msg.agent,
        status=SignalStatus(msg.status),
        risk=msg.risk,
        confidence=msg.confidence,
        reasons=[reason_from_proto(r) for r in msg.reasons],
        model_version=msg.model_version,
        latency_ms=msg.latency_ms,
        detail=msg.detail,
        batch_size=msg.batch_size,
    )
