"""A context's past logins held as one column per attribute (the shape of aegis.v1.LoginHistory).

Agents compute their features over columns (counters, compress, map of builtins) instead of
building a LoginEvent per past login: that conversion was most of their CPU. The history is still
a Sequence of PastLogin for code that reads it login by login (tests, offline evaluation), which
pays for the objects only when it asks for them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from itertools import compress
from types import SimpleNamespace
from typing import Any, overload

from aegis_domain.types import Action, AuthMethod, DeviceType, LoginEvent, PastLogin

# The columns, in LoginEvent's field order and then the decision's (aegis.v1.LoginHistory).
COLUMNS = (
    "event_id", "timestamp", "user_id", "ip", "session_id", "device_id", "country", "region",
    "city", "asn", "user_agent", "browser", "os", "device_type", "login_successful",
    "round_trip_time_ms", "auth_method", "failed_attempts_before", "latitude", "longitude",
    "accuracy_radius_km", "action", "risk",
)
# Optional floats are NaN in a column and None in a LoginEvent.
OPTIONAL_COLUMNS = ("round_trip_time_ms", "latitude", "longitude", "accuracy_radius_km")


class LoginHistory(Sequence[PastLogin]):
    """Past logins, most recent first: entry i of every column belongs to login i.

    Enums are held as their int values; LoginEvent's optional floats as NaN where absent. A
    column is read from its source when first asked for and kept: an agent pays only for the
    columns it reads, and a selection (`select`) only for the columns read of it.
    """

    # The columns, as attributes (filled by __getattr__ on first use).
    event_id: Sequence[str]
    timestamp: Sequence[float]
    user_id: Sequence[str]
    ip: Sequence[str]
    session_id: Sequence[str]
    device_id: Sequence[str]
    country: Sequence[str]
    region: Sequence[str]
    city: Sequence[str]
    asn: Sequence[int]
    user_agent: Sequence[str]
    browser: Sequence[str]
    os: Sequence[str]
    device_type: Sequence[int]
    login_successful: Sequence[bool]
    round_trip_time_ms: Sequence[float]
    auth_method: Sequence[int]
    failed_attempts_before: Sequence[int]
    latitude: Sequence[float]
    longitude: Sequence[float]
    accuracy_radius_km: Sequence[float]
    action: Sequence[int]
    risk: Sequence[float]

    def __init__(self, source: Any, keep: list[bool] | None = None) -> None:
        """source: anything with the COLUMNS as attributes of equal length (an
        aegis.v1.LoginHistory message is read in place), or, with keep, a LoginHistory;
        keep: which logins of source are kept, one flag each (all when None)."""
        self._source = source
        self._keep = keep
        self._rows: list[int] | None = None

    @classmethod
    def from_logins(cls, logins: Iterable[PastLogin]) -> LoginHistory:
        """The columns of PastLogin objects (what producers and tests hold)."""
        return cls.from_rows([column_row(p) for p in logins])

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[Any, ...]]) -> LoginHistory:
        """The columns of logins given as column_row tuples (what a server may keep, so as to
        encode each past login once rather than once per context it appears in)."""
        columns = zip(*rows, strict=True) if rows else itertools.repeat((), len(COLUMNS))
        return cls(SimpleNamespace(**dict(zip(COLUMNS, columns, strict=True))))

    @classmethod
    def of(cls, history: Sequence[PastLogin]) -> LoginHistory:
        """`history` itself when it is already columnar, else its columns."""
        return history if isinstance(history, LoginHistory) else cls.from_logins(history)

    def select(self, keep: Iterable[bool]) -> LoginHistory:
        """The logins where `keep` is true, in order."""
        return LoginHistory(self, list(keep))

    def __getattr__(self, name: str) -> Sequence[Any]:
        # Only for a column not read yet (and for nothing else: no recursion on _source).
        if name not in _COLUMN_SET:
            raise AttributeError(name)
        column = getattr(self._source, name)
        # One copy in C into Python values (a message's column would build a value per access).
        column = tuple(column if self._keep is None else compress(column, self._keep))
        self.__dict__[name] = column
        return column  # type: ignore[no-any-return]

    def __len__(self) -> int:
        return len(self.timestamp) if self._keep is None else self._keep.count(True)

    @overload
    def __getitem__(self, index: int) -> PastLogin: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PastLogin]: ...

    def __getitem__(self, index: int | slice) -> PastLogin | Sequence[PastLogin]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if self._keep is not None:
            # One row of the source, without reading whole columns of the selection.
            if self._rows is None:
                self._rows = list(compress(itertools.count(), self._keep))
            return self._source[self._rows[index]]  # type: ignore[no-any-return]
        row = [getattr(self, name)[index] for name in COLUMNS]
        for position, decode in _DECODE:
            row[position] = decode(row[position])
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

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which are not hashable

    def __repr__(self) -> str:
        return f"LoginHistory({list(self)!r})"


_COLUMN_SET = frozenset(COLUMNS)
# How a column's value becomes the LoginEvent's or PastLogin's, by position in COLUMNS (enums by
# dict: an Enum call per value costs an order of magnitude more).
_DECODE = [
    (COLUMNS.index(name), decode)
    for name, decode in {
        "device_type": {member.value: member for member in DeviceType}.__getitem__,
        "auth_method": {member.value: member for member in AuthMethod}.__getitem__,
        "action": {member.value: member for member in Action}.__getitem__,
        **dict.fromkeys(OPTIONAL_COLUMNS, lambda value: None if math.isnan(value) else value),
    }.items()
]


def column_row(past: PastLogin) -> tuple[Any, ...]:
    """A past login's entry in each column, in COLUMNS order."""
    e = past.event
    return (
        e.event_id, e.timestamp, e.user_id, e.ip, e.session_id, e.device_id, e.country,
        e.region, e.city, e.asn, e.user_agent, e.browser, e.os, int(e.device_type),
        e.login_successful, _nan(e.round_trip_time_ms), int(e.auth_method),
        e.failed_attempts_before, _nan(e.latitude), _nan(e.longitude),
        _nan(e.accuracy_radius_km), int(past.action), past.risk,
    )


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
