"""A context's past logins held as one column per attribute (the shape of aegis.v1.LoginHistory).

Agents compute their features over columns (counters, compress, map of builtins) instead of
building a LoginEvent per past login: that conversion was most of their CPU. The history is still
a Sequence of PastLogin for code that reads it login by login (tests, offline evaluation), which
pays for the objects only when it asks for them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from itertools import compress
from typing import Any, overload

from aegis_domain.types import Action, AuthMethod, DeviceType, LoginEvent, PastLogin


@dataclass(frozen=True, slots=True, eq=False)
class LoginHistory(Sequence[PastLogin]):
    """Past logins, most recent first: entry i of every column belongs to login i.

    Enums are held as their int values; LoginEvent's optional floats as NaN where absent.
    """

    event_id: Sequence[str] = ()
    timestamp: Sequence[float] = ()
    user_id: Sequence[str] = ()
    ip: Sequence[str] = ()
    session_id: Sequence[str] = ()
    device_id: Sequence[str] = ()
    country: Sequence[str] = ()
    region: Sequence[str] = ()
    city: Sequence[str] = ()
    asn: Sequence[int] = ()
    user_agent: Sequence[str] = ()
    browser: Sequence[str] = ()
    os: Sequence[str] = ()
    device_type: Sequence[int] = ()
    login_successful: Sequence[bool] = ()
    round_trip_time_ms: Sequence[float] = ()
    auth_method: Sequence[int] = ()
    failed_attempts_before: Sequence[int] = ()
    latitude: Sequence[float] = ()
    longitude: Sequence[float] = ()
    accuracy_radius_km: Sequence[float] = ()
    action: Sequence[int] = ()
    risk: Sequence[float] = ()

    @classmethod
    def from_logins(cls, logins: Iterable[PastLogin]) -> LoginHistory:
        """The columns of PastLogin objects (what producers and tests hold)."""
        rows = [
            (*_event_row(p.event), int(p.action), p.risk)
            for p in logins
        ]
        if not rows:
            return cls()
        return cls(*(tuple(column) for column in zip(*rows, strict=True)))

    @classmethod
    def of(cls, history: Sequence[PastLogin]) -> LoginHistory:
        """`history` itself when it is already columnar, else its columns."""
        return history if isinstance(history, LoginHistory) else cls.from_logins(history)

    def select(self, keep: Iterable[bool]) -> LoginHistory:
        """The logins where `keep` is true, in order (one C-level compress per column)."""
        mask = list(keep)
        return LoginHistory(*(tuple(compress(column, mask)) for column in self.columns()))

    def columns(self) -> list[Sequence[Any]]:
        """Every column, in COLUMNS order (dataclasses.astuple would copy each element)."""
        return [getattr(self, name) for name in COLUMNS]

    def __len__(self) -> int:
        return len(self.timestamp)

    @overload
    def __getitem__(self, index: int) -> PastLogin: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PastLogin]: ...

    def __getitem__(self, index: int | slice) -> PastLogin | Sequence[PastLogin]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row: list[Any] = [column[index] for column in self.columns()]
        for name, decode in _DECODE.items():
            row[_POSITION[name]] = decode(row[_POSITION[name]])
        *event, action, risk = row
        return PastLogin(event=LoginEvent(*event), action=action, risk=risk)

    def __iter__(self) -> Iterator[PastLogin]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        # Equal to any sequence of the same past logins, columnar or not: a context read from
        # the wire equals the one the audit service built.
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable-looking columns: not a dict key


# The columns, in LoginEvent's field order and then the decision's.
COLUMNS = tuple(f.name for f in fields(LoginHistory))
_POSITION = {name: i for i, name in enumerate(COLUMNS)}
# Optional floats are NaN in a column and None in a LoginEvent.
OPTIONAL_COLUMNS = ("round_trip_time_ms", "latitude", "longitude", "accuracy_radius_km")
# How a column's value becomes the LoginEvent's or PastLogin's (enums by dict: an Enum call per
# value costs an order of magnitude more).
_DECODE = {
    "device_type": {member.value: member for member in DeviceType}.__getitem__,
    "auth_method": {member.value: member for member in AuthMethod}.__getitem__,
    "action": {member.value: member for member in Action}.__getitem__,
    **dict.fromkeys(OPTIONAL_COLUMNS, lambda value: None if math.isnan(value) else value),
}


def _event_row(e: LoginEvent) -> tuple[Any, ...]:
    return (
        e.event_id, e.timestamp, e.user_id, e.ip, e.session_id, e.device_id, e.country,
        e.region, e.city, e.asn, e.user_agent, e.browser, e.os, int(e.device_type),
        e.login_successful, _nan(e.round_trip_time_ms), int(e.auth_method),
        e.failed_attempts_before, _nan(e.latitude), _nan(e.longitude),
        _nan(e.accuracy_radius_km),
    )


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
