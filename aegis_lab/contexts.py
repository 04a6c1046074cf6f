"""The offline context builder: GetContext in memory for logins fed in time order, as the audit
service would answer.

Training must see each login with the context the running system gives it, built from the
logins before it only. This answers GetContext by the rules of `aegis_domain.context_rules` (the
same bounds, windows, links and assembly as the embedded backend's SQL) over logins recorded
in time order, keeping only what a later query can still read: each user's newest history
rows and, per user / device / IP / ASN, the newest `scan_limit` rows within the widest window.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from aegis_domain.context_rules import (
    NO_NEIGHBORS,
    ContextBounds,
    ContextWindows,
    LinkNeighbors,
    assemble_context,
    distinct_countries,
    history_cut,
    links,
)
from aegis_domain.types import (
    Action,
    LinkKind,
    LoginContext,
    LoginEvent,
    Neighbor,
    PastLogin,
    Velocity,
)

# History rows kept beyond the bound, for logins recorded at the very instant of a later
# query: they are not before it, so they must not take the place of one that is.
_SAME_INSTANT_SLACK = 16
# Windows that saw no login within the widest window are dropped this often (in logins).
_SWEEP_EVERY = 100_000
_USER = "user"


@dataclass(frozen=True, slots=True)
class _Row:
    """What the index holds of one decision for the neighbourhood and velocity counts."""

    ts: float
    user_id: str
    successful: bool
    action: Action
    risk: float
    country: str


@dataclass(slots=True)
class _UserRows:
    """One user's rows inside a window, summed as the neighbourhood query sums them."""

    logins: int = 0
    failures: int = 0
    flagged: int = 0
    last_seen: float = float("-inf")
    risks: Counter[float] = field(default_factory=Counter)

    def neighbor(self, kind: LinkKind, user_id: str) -> Neighbor:
        return Neighbor(
            link=kind, user_id=user_id, logins=self.logins, failures=self.failures,
            flagged=self.flagged, max_risk=max(self.risks), last_seen=self.last_seen,
        )


class _Window:
    """The newest `limit` rows of one key that are not older than `span_s`, with running
    sums per user, so that a hot key (a carrier's NAT address, a big ASN) costs a query
    the same as a quiet one. Users are kept in the order of their latest row."""

    def __init__(self, limit: int, span_s: float) -> None:
        self.rows: deque[_Row] = deque()
        self.users: dict[str, _UserRows] = {}
        self.countries: Counter[str] = Counter()  # rows per country
        self.failures = 0
        self.limit = limit
        self.span_s = span_s

    def push(self, row: _Row) -> None:
        self.rows.append(row)
        self.failures += not row.successful
        self.countries[row.country] += 1
        user = self.users.pop(row.user_id, None) or _UserRows()
        self.users[row.user_id] = user  # moved to the end: the latest
        user.logins += 1
        user.failures += not row.successful
        user.flagged += row.action is not Action.ALLOW
        user.last_seen = row.ts
        user.risks[row.risk] += 1
        if len(self.rows) > self.limit:
            self._drop_oldest()

    def expire(self, as_of: float) -> None:
        """Drop the rows older than the window ending at `as_of` (queries come in order)."""
        since = as_of - self.span_s
        while self.rows and self.rows[0].ts < since:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        row = self.rows.popleft()
        self.failures -= not row.successful
        self.countries[row.country] -= 1
        if not self.countries[row.country]:
            del self.countries[row.country]
        user = self.users[row.user_id]
        user.logins -= 1
        if not user.logins:
            del self.users[row.user_id]
            return
        user.failures -= not row.successful
        user.flagged -= row.action is not Action.ALLOW
        user.risks[row.risk] -= 1
        if not user.risks[row.risk]:
            del user.risks[row.risk]

    def neighbors(self, kind: LinkKind, user_id: str, limit: int) -> LinkNeighbors:
        """The other users, latest first (ties by user id, as the index orders them)."""
        chosen: list[tuple[str, _UserRows]] = []
        for other, rows in reversed(self.users.items()):
            if other == user_id:
                continue
            if len(chosen) >= limit and (not chosen or rows.last_seen < chosen[-1][1].last_seen):
                break
            chosen.append((other, rows))
        chosen.sort(key=lambda item: (-item[1].last_seen, item[0]))
        total = len(self.users) - (user_id in self.users)
        return LinkNeighbors(
            neighbors=[rows.neighbor(kind, other) for other, rows in chosen[:limit]],
            total_users=total,
            countries=distinct_countries(self.countries),
        )


class OfflineContexts:
    """GetContext for logins fed in time order: `context(event)`, then `record(event, ...)`."""

    def __init__(self, bounds: ContextBounds) -> None:
        self.bounds = bounds
        self._history: dict[str, deque[PastLogin]] = {}
        self._windows: dict[tuple[str, str, str | int], _Window] = {}
        # Rows of the latest instant, held back until a query comes after that instant:
        # GetContext reads only rows strictly before its as_of.
        self._pending: list[tuple[LoginEvent, _Row]] = []
        self._recorded = 0
        self._latest = float("-inf")

    def context(self, event: LoginEvent) -> LoginContext:
        """The LoginContext GetContext(user, device, ip, asn, as_of=timestamp) would return."""
        self._check_order(event)
        if self._pending and self._pending[0][1].ts < event.timestamp:
            self._flush()
        bounds = self.bounds
        windows = ContextWindows.ending_at(event.timestamp, bounds)
        fetched = self._history_before(event.user_id, windows.as_of)
        keep, truncated = history_cut([p.event.timestamp for p in fetched], windows, bounds)
        by_link = {}
        for kind, key in links(event.device_id, event.ip, event.asn):
            window = self._window("link", kind.name, key, windows.as_of)
            by_link[kind] = (
                window.neighbors(kind, event.user_id, bounds.neighbor_limit)
                if window is not None else NO_NEIGHBORS
            )
        user = self._velocity(_USER, event.user_id, windows.as_of)
        ip = self._velocity(LinkKind.IP.name, event.ip, windows.as_of)
        device = self._velocity(LinkKind.DEVICE.name, event.device_id, windows.as_of)
        velocity = Velocity(
            user_attempts=len(user.rows) if user else 0,
            user_failures=user.failures if user else 0,
            ip_attempts=len(ip.rows) if ip else 0,
            ip_failures=ip.failures if ip else 0,
            ip_distinct_users=len(ip.users) if ip else 0,
            device_distinct_users=len(device.users) if device else 0,
            window_seconds=bounds.velocity_window_s,
        )
        return assemble_context(fetched[:keep], truncated, by_link, velocity)

    def record(self, event: LoginEvent, action: Action = Action.ALLOW, risk: float = 0.0) -> None:
        """Add a decided login; logins must come in time order."""
        self._check_order(event)
        self._latest = event.timestamp
        history = self._history.get(event.user_id)
        if history is None:
            history = self._history[event.user_id] = deque(
                maxlen=self.bounds.history_limit + 1 + _SAME_INSTANT_SLACK
            )
        history.append(PastLogin(event=event, action=action, risk=risk))
        if self._pending and self._pending[0][1].ts < event.timestamp:
            self._flush()
        self._pending.append(
            (event, _Row(event.timestamp, event.user_id, event.login_successful, action, risk,
                         event.country))
        )
        self._recorded += 1
        if self._recorded % _SWEEP_EVERY == 0:
            self._sweep()

    def _check_order(self, event: LoginEvent) -> None:
        if event.timestamp < self._latest:
            raise ValueError(
                f"event {event.event_id} at {event.timestamp} comes before one already recorded "
                f"at {self._latest}: replay in time order"
            )

    def _flush(self) -> None:
        bounds = self.bounds
        for event, row in self._pending:
            keyed = [("link", kind.name, key, bounds.neighbor_window_s)
                     for kind, key in links(event.device_id, event.ip, event.asn)]
            keyed += [("velocity", column, key, float(bounds.velocity_window_s))
                      for column, key in ((_USER, event.user_id), (LinkKind.IP.name, event.ip),
                                          (LinkKind.DEVICE.name, event.device_id)) if key]
            for use, column, key, span_s in keyed:
                window = self._windows.get((use, column, key))
                if window is None:
                    window = self._windows[(use, column, key)] = _Window(bounds.scan_limit, span_s)
                window.push(row)
        self._pending.clear()

    def _window(self, use: str, column: str, key: str | int, as_of: float) -> _Window | None:
        window = self._windows.get((use, column, key))
        if window is not None:
            window.expire(as_of)
        return window

    def _velocity(self, column: str, key: str, as_of: float) -> _Window | None:
        return self._window("velocity", column, key, as_of) if key else None

    def _history_before(self, user_id: str, as_of: float) -> list[PastLogin]:
        """Up to history_limit + 1 of the user's logins before as_of, newest first."""
        history = self._history.get(user_id, ())
        wanted = self.bounds.history_limit + 1
        found: list[PastLogin] = []
        for past in reversed(history):
            if past.event.timestamp >= as_of:
                continue
            found.append(past)
            if len(found) == wanted:
                break
        return found

    def _sweep(self) -> None:
        """Forget windows no later query can read: their newest row is out of every window."""
        stale = [key for key, window in self._windows.items()
                 if not window.rows or window.rows[-1].ts < self._latest - window.span_s]
        for key in stale:
            del self._windows[key]


def offline_contexts(
    events: Iterable[LoginEvent], bounds: ContextBounds
) -> Iterator[tuple[LoginEvent, LoginContext]]:
    """Each event with its context, as a system that allowed every login would have had it.

    Decisions (action, risk) are not known offline: each login is recorded as ALLOW at risk
    0. Whatever is computed from the result must therefore not read them (features read
    only the events, the counts and the links).
    """
    contexts = OfflineContexts(bounds)
    for event in events:
        yield event, contexts.context(event)
        contexts.record(event)
