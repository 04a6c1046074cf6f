"""GetContext served from memory: the newest index rows of each user, device, IP and ASN.

The audit service is the only writer of the index, so it can keep what GetContext reads
beside it and answer without SQL or per-row JSON parsing. Each key (a user, device, IP or
ASN) holds its newest rows in time order, loaded from the index on first use (under the
cache lock, from a snapshot pinned under it, so no commit falls between) and then kept up
to date by every commit. At start the link keys (device, IP, ASN) are warmed from one
bounded scan of the index's newest rows (`warm`), so the first query on a busy carrier-NAT
IP or mobile ASN does not pay a load of about 1,000 rows, and the users of that scan are
loaded as their first query would (`warm_users`), so that their first login after a restart
pays neither a load nor a reader thread's wake-up. A key holds at most `retain`
rows; dropping the oldest sets `complete_after`: every row of the key newer than that is
held. A query is answered from memory only when the rows it reads are provably all held
(live traffic: always; a replay asking about last year, or a user with more logins in the
velocity window than history rows: not), otherwise `context()` returns None and the caller
reads the index. Answers are the contract's (aegis_domain.context_rules), checked by the
shared context suite. `held_contexts` answers on the event loop what memory holds, without
waiting for the lock: a hand-off to a reader thread costs more than most answers (a bare
asyncio.to_thread round trip measured p50 0.17 / p99 8.8 ms on the shared 2-core machine).

Memory: at most `max_rows` rows in all; the least recently used keys go first. A history
row carries the user's login as its entries of the history columns, encoded once for every
context it appears in (no more than the LoginEvent it is made from, about 1.5 KiB); a link
row shares it or, when loaded from the index, is a tuple of about 300 bytes. Measured on the
bench's realistic population (1,200 users, 30 days): 125,678 rows held for 2,627 keys took
79 MiB, about 120 KiB per active user; the default bound (1,000,000 rows) keeps it under about
1.5 GiB.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any, Final, NamedTuple

from aegis_domain.context_rules import (
    ContextBounds,
    ContextWindows,
    LinkNeighbors,
    assemble_context,
    distinct_countries,
    history_cut,
    links,
)
from aegis_domain.login_history import LoginHistory
from aegis_domain.types import Action, LinkKind, LoginContext, Neighbor, Velocity
from audit_service.storage import ContextQuery

_ALLOW = int(Action.ALLOW)
# Rows kept beyond what a query at the newest instant reads: logins at the very instant of a
# later query are not before it, so they must not take the place of one that is.
_SLACK = 16
_NEVER = float("-inf")


Row = tuple[float, str, str, bool, bool, float, str, "tuple[Any, ...] | None"]
"""One indexed decision as GetContext reads it, ordered by (ts, decision_id): ts, decision
id, user id, failed, flagged, risk, country, and the login as a history column row
(login_history.column_row, encoded once) on a user's rows (their history), None on loaded
link rows. A plain tuple of immutable values, not a NamedTuple: the garbage collector stops
tracking such tuples, and memory holds up to a million of them, which every full
collection would otherwise walk (GetContext's CPU went to it)."""
# Its fields, as indices (Final: each a literal type for mypy).
TS: Final = 0
USER_ID: Final = 2
FAILED: Final = 3
FLAGGED: Final = 4
RISK: Final = 5
COUNTRY: Final = 6
PAST: Final = 7
# Keys whose ranked window is at least this long keep a _Tally; smaller ones re-rank.
_TALLY_MIN_ROWS = 64
# A tally is (re)built only once this many rows in a row were appended in time order: a late
# row drops it, and building one costs several rankings, so a key whose commits arrive out of
# order (concurrent Scores finish in any order) is ranked instead.
_TALLY_STEADY_ROWS = 4


def row_of(decision_id: str, user_id: str, ts: float, successful: bool, action: int,
           risk: float, country: str, past: tuple[Any, ...] | None) -> Row:
    """A Row from index columns; `past`: the login's history columns (column_row), on a
    user's rows."""
    return (ts, decision_id, user_id, not successful, action != _ALLOW, risk, country, past)


_TS = itemgetter(TS)
_USER_ID = itemgetter(USER_ID)
_COUNTRY = itemgetter(COUNTRY)

# Columns of the index a key belongs to; the loader reads the newest rows of one.
USER, DEVICE, IP, ASN = "user_id", "device_id", "ip", "asn"
_LINK_COLUMN = {LinkKind.DEVICE: DEVICE, LinkKind.IP: IP, LinkKind.ASN: ASN}

Loader = Callable[[str, "str | int", int], list[Row]]
"""(column, key, limit) -> the key's newest `limit` rows in the index, newest first."""


class _NotHeld(Exception):
    """A key that held_contexts would have to load from the index."""


def _not_held(column: str, key: str | int, limit: int) -> list[Row]:
    raise _NotHeld


class _Ranked(NamedTuple):
    """The users of a window of rows, most recently seen first (ties by user id), the first
    few with their sums: (user, logins, failures, flagged, max risk, last seen); and the
    distinct countries of the rows."""

    top: list[tuple[str, int, int, int, float, float]]
    last_seen: dict[str, float]
    countries: int

    def neighbors(self, kind: LinkKind, user_id: str, limit: int) -> LinkNeighbors:
        """The neighbours of `user_id` (every user but them); `top` holds limit + 1."""
        listed = [ranked for ranked in self.top if ranked[0] != user_id][:limit]
        return LinkNeighbors(
            neighbors=[Neighbor(kind, *ranked) for ranked in listed],
            total_users=len(self.last_seen) - (user_id in self.last_seen),
            countries=self.countries,
        )


class _Tally:
    """The users of a key's rows from its row number `start` (counted from the first row the
    key ever held) to its newest, kept as rows are appended and the oldest leave: what _rank
    sums, so that a busy link that every commit touches is not re-ranked from its hundreds of
    rows per query. Per user the risks of their rows in the window (oldest first), failures
    and flagged; users in the order they were last seen (newest last); rows per country."""

    __slots__ = ("countries", "last_seen", "risks", "start", "sums")

    def __init__(self, rows: Sequence[Row], start: int) -> None:
        self.start = start
        self.last_seen: dict[str, float] = {}  # insertion order: by last seen
        self.risks: dict[str, deque[float]] = {}
        self.sums: dict[str, list[int]] = {}  # failures, flagged
        self.countries: Counter[str] = Counter()
        for row in rows:
            self.add(row)

    def add(self, row: Row) -> None:
        """`row` was appended: it is the newest."""
        user = row[USER_ID]
        self.last_seen.pop(user, None)
        self.last_seen[user] = row[TS]
        self.countries[row[COUNTRY]] += 1
        if user in self.risks:
            self.risks[user].append(row[RISK])
            sums = self.sums[user]
            sums[0] += row[FAILED]
            sums[1] += row[FLAGGED]
        else:
            self.risks[user] = deque((row[RISK],))
            self.sums[user] = [int(row[FAILED]), int(row[FLAGGED])]

    def drop_oldest(self, row: Row) -> None:
        """`row`, the oldest of the window, leaves it (the oldest of its user's too)."""
        self.start += 1
        self.countries[row[COUNTRY]] -= 1
        if not self.countries[row[COUNTRY]]:
            del self.countries[row[COUNTRY]]
        user = row[USER_ID]
        risks = self.risks[user]
        risks.popleft()
        if risks:
            sums = self.sums[user]
            sums[0] -= row[FAILED]
            sums[1] -= row[FLAGGED]
        else:
            del self.risks[user], self.sums[user], self.last_seen[user]

    def ranked(self, top: int) -> _Ranked:
        """_rank of the window."""
        last_seen = self.last_seen
        chosen = _most_recent(reversed(last_seen), last_seen, top)
        top_sums = []
        for other in chosen:
            risks, (failures, flagged) = self.risks[other], self.sums[other]
            top_sums.append((other, len(risks), failures, flagged, max(risks), last_seen[other]))
        return _Ranked(top=top_sums, last_seen=last_seen,
                       countries=distinct_countries(self.countries))


class _Key:
    __slots__ = ("complete_after", "dropped", "ranked", "rows", "steady", "tally")

    def __init__(self, rows: list[Row], complete_after: float) -> None:
        self.rows = rows
        self.complete_after = complete_after
        # Rows dropped from the oldest end so far: rows[i] is the key's row number
        # dropped + i (a tally's window starts at such a number).
        self.dropped = 0
        # The last ranking, under the rows it ranked (see _window_id): a busy IP or ASN is
        # ranked again only when a query's window holds other rows, not after every commit
        # (a replay's queries lag its newest commits, so their windows often stay the same).
        self.ranked: tuple[tuple[Any, ...], _Ranked] | None = None
        # A busy key's newest rows tallied (live queries rank them): kept while rows are
        # appended in time order and leave the window oldest first, dropped when one arrives
        # late.
        self.tally: _Tally | None = None
        # Rows appended in time order since the last late one (see _TALLY_STEADY_ROWS).
        self.steady = 0

    def _span(self, since: float, as_of: float, limit: int) -> tuple[int, int] | None:
        """Where the newest `limit` rows in [since, as_of) are; None when some may be
        missing from memory."""
        rows = self.rows
        hi = bisect_left(rows, (as_of,))
        lo = bisect_left(rows, (since,), 0, hi)
        if since > self.complete_after or (
            hi - lo >= limit and rows[hi - limit][TS] > self.complete_after
        ):
            return max(lo, hi - limit), hi
        return None

    def window(self, since: float, as_of: float, limit: int) -> list[Row] | None:
        """The newest `limit` rows in [since, as_of), oldest first; None when some may be
        missing from memory."""
        span = self._span(since, as_of, limit)
        return None if span is None else self.rows[span[0] : span[1]]

    def rank(self, since: float, as_of: float, limit: int, top: int) -> _Ranked | None:
        """_rank of window(since, as_of, limit), reused while rows and span are the same."""
        span = self._span(since, as_of, limit)
        if span is None:
            return None
        lo, hi = span
        if (hi == len(self.rows) and hi - lo >= _TALLY_MIN_ROWS
                and (self.tally is not None or self.steady >= _TALLY_STEADY_ROWS)):
            # The newest rows, as a live query at a busy key reads them: the window moves on
            # by the rows appended since and those that left it (by age or by count).
            return self._tally(self.dropped + lo).ranked(top)
        memo = (*self._window_id(*span), top)
        if self.ranked is None or self.ranked[0] != memo:
            self.ranked = memo, _rank(self.rows[span[0] : span[1]], top)
        return self.ranked[1]

    def _tally(self, start: int) -> _Tally:
        """The tally of the rows from row number `start` to the newest."""
        tally = self.tally
        if tally is None or tally.start > start:
            tally = self.tally = _Tally(self.rows[start - self.dropped :], start)
        while tally.start < start:
            tally.drop_oldest(self.rows[tally.start - self.dropped])
        return tally

    def _window_id(self, lo: int, hi: int) -> tuple[Any, ...]:
        """Names the rows[lo:hi] by its first and last (ts, decision id) and its length: rows
        are sorted and unique, and only ever inserted or dropped at the oldest end, so two
        windows so named hold the same rows."""
        if lo == hi:
            return ()
        rows = self.rows
        return rows[lo][:2], rows[hi - 1][:2], hi - lo


class ContextCache:
    """The in-memory serving path of GetContext (thread-safe: one lock)."""

    def __init__(self, bounds: ContextBounds, max_rows: int) -> None:
        self._bounds = bounds
        self._max_rows = max_rows
        # A link key (device, IP, ASN) keeps half a scan more: a replay decides its window
        # of rows (256 in flight) out of file order, so a login waiting for its user's
        # previous one asks about an instant after which other users' logins through a busy
        # ASN or carrier IP may be committed already; without those rows in memory its query
        # read the index (most of a replay's misses, each a full SQL context).
        late = bounds.scan_limit // 2
        self._retain = {
            USER: bounds.history_limit + 1 + _SLACK,
            DEVICE: bounds.scan_limit + _SLACK + late,
            IP: bounds.scan_limit + _SLACK + late,
            ASN: bounds.scan_limit + _SLACK + late,
        }
        self._keys: OrderedDict[tuple[str, str | int], _Key] = OrderedDict()
        self._rows = 0
        self.lock = threading.Lock()
        self.misses = 0  # queries memory could not answer (read from the index instead)
        self.loads = 0  # keys read from the index on first use (not warmed at start)

    def add(self, rows: Iterable[tuple[Row, str, str, int]]) -> None:
        """Committed decisions (row, device, IP, ASN), after the index holds them. Keys not
        in memory are left alone: their next load reads the index, these rows included."""
        if not self._max_rows:
            return
        with self.lock:
            for row, device_id, ip, asn in rows:
                for column, key in ((USER, row[USER_ID]), (DEVICE, device_id), (IP, ip),
                                    (ASN, asn)):
                    held = self._keys.get((column, key))
                    if held is not None and row[TS] > held.complete_after:
                        self._insert(held, row, self._retain[column])
            self._evict()

    def warm(self, newest_first: Iterable[tuple[Row, str, str, int]], floor: float) -> None:
        """Hold the link keys of a scan of the index (rows, device, IP, ASN), newest first,
        that includes every row newer than `floor`: each key is complete after `floor`, or
        after its oldest held row where it fills up. Users are left to load on first use:
        their history must know whether older rows exist (a user is one short lookup)."""
        if not self._max_rows:
            return
        scanned: dict[tuple[str, str | int], list[Row]] = {}
        for row, device_id, ip, asn in newest_first:
            for column, key in ((DEVICE, device_id), (IP, ip), (ASN, asn)):
                rows = scanned.setdefault((column, key), [])
                if len(rows) < self._retain[column]:
                    rows.append(row)
        with self.lock:
            for (column, key), rows in scanned.items():
                if (column, key) in self._keys:
                    continue
                rows.reverse()
                full = len(rows) == self._retain[column]
                self._keys[(column, key)] = _Key(rows, rows[0][TS] if full else floor)
                self._rows += len(rows)
            self._evict()

    def warm_users(self, user_ids: Iterable[str], load: Loader, max_rows: int) -> None:
        """Hold these users' rows (each loaded as on its first query, `load` reading a
        snapshot pinned under the lock), in order, until `max_rows` rows are held so: the
        first login of a recently active user after a start needs no load from the index."""
        if not self._max_rows:
            return
        added = 0
        with self.lock:
            for user_id in user_ids:
                if added >= max_rows:
                    break
                if (USER, user_id) not in self._keys:
                    added += len(self._load(USER, user_id, load).rows)
            self._evict()

    def _insert(self, held: _Key, row: Row, retain: int) -> None:
        rows = held.rows
        ts_id = row[:2]  # a loaded row and its committed copy differ in `past`: never compared
        at = bisect_left(rows, ts_id)
        if at < len(rows) and rows[at][:2] == ts_id:
            return  # loaded from a snapshot that already held it
        rows.insert(at, row)
        self._rows += 1
        if at == len(rows) - 1:
            held.steady += 1
            if held.tally is not None:
                held.tally.add(row)
        else:
            held.steady = 0
            held.tally = None
        if len(rows) > retain:
            gone = rows.pop(0)
            held.complete_after = gone[TS]
            held.dropped += 1
            self._rows -= 1
            if held.tally is not None and held.tally.start < held.dropped:
                held.tally.drop_oldest(gone)

    def _evict(self) -> None:
        while self._rows > self._max_rows and len(self._keys) > 1:
            _, held = self._keys.popitem(last=False)
            self._rows -= len(held.rows)

    def _key(self, column: str, key: str | int, load: Loader) -> _Key:
        held = self._keys.get((column, key))
        if held is not None:
            self._keys.move_to_end((column, key))
            return held
        held = self._load(column, key, load)
        self.loads += 1
        return held

    def _load(self, column: str, key: str | int, load: Loader) -> _Key:
        retain = self._retain[column]
        rows = load(column, key, retain)
        rows.reverse()
        held = _Key(rows, rows[0][TS] if len(rows) == retain else _NEVER)
        self._keys[(column, key)] = held
        self._rows += len(rows)
        return held

    def held_contexts(self, queries: Sequence[ContextQuery]) -> list[LoginContext | None]:
        """The contexts memory alone can answer, without waiting: None for a query that would
        load a key from the index or read rows memory may lack, and for all of them while a
        commit holds the lock. For the event loop, where a wait or a read from disk would
        hold up every call; the caller reads the rest from the index."""
        if not self._max_rows or not self.lock.acquire(blocking=False):
            return [None] * len(queries)
        try:
            return [self._held_context(q) for q in queries]
        finally:
            self.lock.release()

    def _held_context(self, q: ContextQuery) -> LoginContext | None:
        try:
            return self._answer(q, _not_held)
        except _NotHeld:
            return None

    def context(self, q: ContextQuery, load: Loader) -> LoginContext | None:
        """The context from memory, or None when memory may lack rows it reads (or holds
        none: max_rows 0). The caller holds `lock` and a snapshot of the index pinned under
        it (`load` reads it)."""
        if not self._max_rows:
            return None
        context = self._answer(q, load)
        if context is None:
            self.misses += 1
        return context

    def _answer(self, q: ContextQuery, load: Loader) -> LoginContext | None:
        """context() without counting a miss (held_contexts' misses are counted when the
        caller asks the index)."""
        bounds = self._bounds
        windows = ContextWindows.ending_at(q.as_of, bounds)
        user = self._key(USER, q.user_id, load)
        history = self._history(user, windows)
        velocity_rows = [
            self._key(column, key, load).window(windows.velocity_since, q.as_of,
                                                bounds.scan_limit) if key else []
            for column, key in ((IP, q.ip), (DEVICE, q.device_id))
        ]
        own = user.window(windows.velocity_since, q.as_of, bounds.scan_limit)
        by_link: dict[LinkKind, LinkNeighbors] = {}
        for kind, key in links(q.device_id, q.ip, q.asn):
            ranked = self._key(_LINK_COLUMN[kind], key, load).rank(
                windows.neighbor_since, q.as_of, bounds.scan_limit, bounds.neighbor_limit + 1
            )
            if ranked is None:
                break
            by_link[kind] = ranked.neighbors(kind, q.user_id, bounds.neighbor_limit)
        else:
            ip_rows, device_rows = velocity_rows
            if history is not None and own is not None and ip_rows is not None \
                    and device_rows is not None:
                self._evict()
                velocity = Velocity(
                    user_attempts=len(own),
                    user_failures=sum(r[FAILED] for r in own),
                    ip_attempts=len(ip_rows),
                    ip_failures=sum(r[FAILED] for r in ip_rows),
                    ip_distinct_users=len(set(map(_USER_ID, ip_rows))),
                    device_distinct_users=len(set(map(_USER_ID, device_rows))),
                    window_seconds=bounds.velocity_window_s,
                )
                return assemble_context(history[0], history[1], by_link, velocity)
        self._evict()
        return None

    def _history(self, user: _Key, windows: ContextWindows) -> tuple[LoginHistory, bool] | None:
        """history_cut over the user's newest history_limit + 1 rows before as_of."""
        wanted = self._bounds.history_limit + 1
        rows = user.rows
        hi = bisect_left(rows, (windows.as_of,))
        start = max(0, hi - wanted)
        exact = (
            user.complete_after == _NEVER
            or (hi >= wanted and rows[start][TS] > user.complete_after)
            # an older row than the age bound is held: every newer one is, and both cut there
            or (start < hi and rows[start][TS] < windows.history_since
                and user.complete_after < windows.history_since)
        )
        if not exact:
            return None
        fetched = rows[start:hi]
        fetched.reverse()
        keep, truncated = history_cut(list(map(_TS, fetched)), windows, self._bounds)
        logins = [r[PAST] for r in fetched[:keep] if r[PAST] is not None]
        return LoginHistory.from_rows(logins), truncated


def _most_recent(newest_first: Iterable[str], last_seen: dict[str, float],
                 top: int) -> list[str]:
    """The `top` users most recently seen, ties by user id; `newest_first`: every user once,
    most recently seen first."""
    chosen: list[str] = []
    for other in newest_first:
        # Past the bound only while tied with the last one taken: ties go by user id.
        if len(chosen) >= top and last_seen[other] < last_seen[chosen[-1]]:
            break
        chosen.append(other)
    chosen.sort(key=lambda other: (-last_seen[other], other))
    return chosen[:top]


def _rank(rows: Sequence[Row], top: int) -> _Ranked:
    """Per user of the rows (oldest first): logins, failures, flagged, highest risk, last
    seen; users most recently seen first (ties by user id), the first `top` summed.

    A hot IP or ASN has up to scan_limit rows and as many users, but only `top` are listed:
    the users and their last-seen times come from C-level passes, and only the listed ones
    are summed row by row.
    """
    users = list(map(_USER_ID, rows))
    last_seen = dict(zip(users, map(_TS, rows), strict=True))  # ascending: the latest wins
    listed = {other: [0, 0, 0, float("-inf")]
              for other in _most_recent(dict.fromkeys(reversed(users)), last_seen, top)}
    for _, _, other, failed, flagged, risk, _, _ in [r for r in rows if r[USER_ID] in listed]:
        sums = listed[other]
        sums[0] += 1
        sums[1] += failed
        sums[2] += flagged
        if risk > sums[3]:
            sums[3] = risk
    return _Ranked(
        top=[(other, int(s[0]), int(s[1]), int(s[2]), s[3], last_seen[other])
             for other, s in listed.items()],
        last_seen=last_seen,
        countries=distinct_countries(map(_COUNTRY, rows)),
    )
