"""The embedded backend's index: SQLite in WAL mode, derived from the log and rebuildable."""

from __future__ import annotations

import contextlib
import math
import queue
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any

from aegis_domain.context_rules import (
    ContextBounds,
    ContextWindows,
    LinkNeighbors,
    assemble_context,
    history_cut,
    links,
)
from aegis_domain.types import Action, LinkKind, LoginContext, Neighbor, PastLogin, Velocity
from audit_service.embedded.context_cache import TS, USER, Row, row_of
from audit_service.index_rows import (
    IndexedEntry,
    IndexedReview,
    RecordLocation,
    event_from_json,
    history_columns_from_json,
)
from audit_service.log.layout import audit_ref
from audit_service.paging import decode_token, encode_token
from audit_service.storage import (
    DecisionFilter,
    DecisionPage,
    DecisionSummary,
    EventClaim,
    ReviewEntry,
    ReviewPage,
    ReviewQueue,
    ReviewSummary,
)

_ESCALATE = int(Action.ESCALATE)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS decisions (
    decision_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    ts REAL NOT NULL,
    action INTEGER NOT NULL,
    risk REAL NOT NULL,
    country TEXT NOT NULL,
    region TEXT NOT NULL,
    device_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    asn INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    login_successful INTEGER NOT NULL,
    event_json TEXT NOT NULL,
    segment TEXT NOT NULL,
    seq INTEGER NOT NULL,
    line_offset INTEGER NOT NULL,
    line_length INTEGER NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (segment, seq)
);
CREATE INDEX IF NOT EXISTS decisions_user_ts ON decisions (user_id, ts, decision_id);
-- The link indexes cover every column the neighbourhood reads: a hot IP or ASN is then
-- one bounded index range scan, never a table lookup per row.
CREATE INDEX IF NOT EXISTS decisions_device_ts
    ON decisions (device_id, ts, user_id, login_successful, action, risk);
CREATE INDEX IF NOT EXISTS decisions_ip_ts
    ON decisions (ip, ts, user_id, login_successful, action, risk);
CREATE INDEX IF NOT EXISTS decisions_asn_ts
    ON decisions (asn, ts, user_id, login_successful, action, risk);
CREATE INDEX IF NOT EXISTS decisions_action_country_ts ON decisions (action, country, ts);
CREATE INDEX IF NOT EXISTS decisions_session ON decisions (session_id);
CREATE INDEX IF NOT EXISTS decisions_ts ON decisions (ts, decision_id);
-- The review queue: partial, so that only escalated decisions pay for it.
CREATE INDEX IF NOT EXISTS decisions_escalated_ts ON decisions (ts, decision_id)
    WHERE action = {_ESCALATE};
CREATE TABLE IF NOT EXISTS reviews (
    review_id TEXT PRIMARY KEY,
    decision_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    ts REAL NOT NULL,
    outcome INTEGER NOT NULL,
    action INTEGER NOT NULL,
    original_action INTEGER NOT NULL,
    reviewer TEXT NOT NULL,
    reason TEXT NOT NULL,
    segment TEXT NOT NULL,
    seq INTEGER NOT NULL,
    line_offset INTEGER NOT NULL,
    line_length INTEGER NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (segment, seq)
);
-- One decision per login: the first decision recorded for an event id, and the digest of
-- that event's content (a repeat with other content is refused).
CREATE TABLE IF NOT EXISTS event_decisions (
    event_id TEXT PRIMARY KEY,
    decision_id TEXT NOT NULL,
    digest TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_decision ON reviews (decision_id, ts, review_id);
CREATE INDEX IF NOT EXISTS reviews_ts ON reviews (ts, review_id);
"""
_COLUMNS = (
    "decision_id, event_id, user_id, ts, action, risk, country, region, device_id, ip, asn, "
    "session_id, login_successful, event_json, segment, seq, line_offset, line_length, hash"
)
_PLACEHOLDERS = ", ".join("?" * len(_COLUMNS.split(",")))
_LOCATION_COLUMNS = ("segment", "seq", "line_offset", "line_length", "hash")
# Row values by name: dataclasses.astuple deep-copies, and cost more than the insert itself.
_location_values = attrgetter("segment", "seq", "offset", "length", "hash")
_decision_values = attrgetter(*(c for c in _COLUMNS.split(", ") if c not in _LOCATION_COLUMNS))
_REVIEW_COLUMNS = (
    "review_id, decision_id, user_id, ts, outcome, action, original_action, reviewer, reason, "
    "segment, seq, line_offset, line_length, hash"
)
_REVIEW_PLACEHOLDERS = ", ".join("?" * len(_REVIEW_COLUMNS.split(",")))
_review_values = attrgetter(
    *(c for c in _REVIEW_COLUMNS.split(", ") if c not in _LOCATION_COLUMNS)
)
# Every record of the log, decisions and reviews alike: what recovery and verify compare.
_RECORDS = (
    "SELECT decision_id AS record_id, segment, seq, line_offset, line_length, hash "
    "FROM decisions UNION ALL "
    "SELECT review_id, segment, seq, line_offset, line_length, hash FROM reviews"
)
_SUMMARY_COLUMNS = "d.decision_id, d.event_id, d.user_id, d.action, d.risk, d.ts, d.country, " \
    "d.segment, d.seq"
_REVIEW_SUMMARY_COLUMNS = "r.review_id, r.decision_id, r.outcome, r.action, " \
    "r.original_action, r.reviewer, r.reason, r.ts, r.segment, r.seq"
# A decision's review: the first recorded (a second one can only come from a race of writers).
_FIRST_REVIEW = (
    "SELECT review_id FROM reviews WHERE decision_id = d.decision_id "
    "ORDER BY ts, review_id LIMIT 1"
)
_LINK_COLUMN = {LinkKind.DEVICE: "device_id", LinkKind.IP: "ip", LinkKind.ASN: "asn"}
# The newest `scan_limit` rows of one key in a window: the bounded input of every count.
_SCAN = (
    "SELECT user_id, ts, login_successful, action, risk, country FROM decisions "
    "WHERE {column} = ? AND ts >= ? AND ts < ? ORDER BY ts DESC LIMIT ?"
)
_COUNTRIES = "SELECT COUNT(DISTINCT NULLIF(country, '')) FROM (" + _SCAN + ")"
# COUNT(*) OVER () runs after GROUP BY: the number of distinct neighbours before LIMIT.
_NEIGHBORS = (
    "SELECT user_id, COUNT(*), TOTAL(login_successful = 0), TOTAL(action != ?), MAX(risk), "
    "MAX(ts), COUNT(*) OVER () FROM (" + _SCAN + ") WHERE user_id != ? "
    "GROUP BY user_id ORDER BY MAX(ts) DESC, user_id LIMIT ?"
)
_VELOCITY = (
    "SELECT COUNT(*), TOTAL(login_successful = 0), COUNT(DISTINCT user_id) FROM (" + _SCAN + ")"
)
# A key's newest rows, as the context cache loads them (USER rows carry their event).
_NEWEST = (
    "SELECT decision_id, user_id, ts, login_successful, action, risk, country{event} "
    "FROM decisions "
    "WHERE {column} = ? ORDER BY ts DESC, decision_id DESC LIMIT ?"
)
# The index's newest rows with their link keys, as the context cache warms at start.
_RECENT = (
    "SELECT decision_id, user_id, ts, login_successful, action, risk, country, device_id, ip, "
    "asn FROM decisions WHERE ts >= ? ORDER BY ts DESC, decision_id DESC LIMIT ?"
)
_HISTORY = (
    "SELECT ts, action, risk, event_json FROM decisions WHERE user_id = ? AND ts < ? "
    "ORDER BY ts DESC, decision_id DESC LIMIT ?"
)
# SQLite's limit on bound parameters is 32766 on current builds, 999 on old ones.
_IN_CHUNK = 500


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode: transactions are explicit, one per write batch or per read snapshot.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    # The log is the source of truth and recovery re-indexes from it, so the index need
    # not be fsynced on every commit: NORMAL syncs only at WAL checkpoints.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


class SqliteIndex:
    """Queries and writes of the index. One writer connection, used by one thread at a time
    (the caller serialises writes); a pool of reader connections for concurrent reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: sqlite3.Connection | None = None
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(self.path)
        self._writer.executescript(_SCHEMA)

    def close(self) -> None:
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._writer is None:
            raise RuntimeError("the index is not open")
        return self._writer

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[IndexSnapshot]:
        """Reads inside one read transaction (from any thread): they all see one state."""
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only = ON")
        try:
            conn.execute("BEGIN")
            try:
                yield IndexSnapshot(conn)
            finally:
                conn.execute("COMMIT")
        finally:
            self._readers.put(conn)

    # Writes (one thread at a time).

    def insert(
        self, rows: Iterable[tuple[IndexedEntry, RecordLocation]], *, skip_known: bool = False
    ) -> None:
        """Index `rows` (decisions and reviews) in one transaction. `skip_known` (recovery)
        leaves rows already indexed as they are; otherwise a known id is an error."""
        verb = "INSERT OR IGNORE" if skip_known else "INSERT"
        decisions: list[tuple[object, ...]] = []
        events: list[tuple[str, str, str]] = []
        reviews: list[tuple[object, ...]] = []
        for entry, location in rows:
            if isinstance(entry, IndexedReview):
                reviews.append(_review_values(entry) + _location_values(location))
                continue
            # The digest lives in event_decisions, not in the decisions row.
            decisions.append(_decision_values(entry) + _location_values(location))
            events.append((entry.event_id, entry.decision_id, entry.event_digest))
        conn = self._conn
        conn.execute("BEGIN")
        try:
            conn.executemany(
                f"{verb} INTO decisions ({_COLUMNS}) VALUES ({_PLACEHOLDERS})", decisions
            )
            # The first decision of an event stands: callers never write a second one, and
            # recovery re-reads the log in order.
            conn.executemany("INSERT OR IGNORE INTO event_decisions VALUES (?, ?, ?)", events)
            if reviews:
                conn.executemany(
                    f"{verb} INTO reviews ({_REVIEW_COLUMNS}) VALUES ({_REVIEW_PLACEHOLDERS})",
                    reviews,
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def known_refs(self, record_ids: Sequence[str]) -> dict[str, str]:
        """record id (decision or review) -> audit reference, for the ids already indexed."""
        found: dict[str, str] = {}
        for start in range(0, len(record_ids), _IN_CHUNK):
            chunk = record_ids[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            for record_id, segment, seq in self._conn.execute(
                f"SELECT record_id, segment, seq FROM ({_RECORDS}) WHERE record_id IN ({marks})",
                chunk,
            ):
                found[record_id] = audit_ref(segment, seq)
        return found

    def event_claims(self, event_ids: Sequence[str]) -> dict[str, EventClaim]:
        """The decisions recorded for these event ids (the writer's view)."""
        return _event_claims(self._conn, event_ids)

    def segment_counts(self) -> dict[str, int]:
        """Indexed records per segment key."""
        return dict(
            self._conn.execute(f"SELECT segment, COUNT(*) FROM ({_RECORDS}) GROUP BY segment")
        )


class IndexSnapshot:
    """Queries over one state of the index (one read transaction): they agree with each
    other whatever is written meanwhile."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def pin(self) -> None:
        """Fix the state now (WAL takes the snapshot at the first read, not at BEGIN)."""
        self._conn.execute("SELECT 1 FROM decisions LIMIT 1").fetchall()

    def event_claims(self, event_ids: Sequence[str]) -> dict[str, EventClaim]:
        """The decisions recorded for these event ids."""
        return _event_claims(self._conn, event_ids)

    def location(self, record_id: str) -> RecordLocation | None:
        """Where a decision or a review lies in the log."""
        row = self._conn.execute(
            f"SELECT segment, seq, line_offset, line_length, hash FROM ({_RECORDS}) "
            "WHERE record_id = ?",
            (record_id,),
        ).fetchone()
        return None if row is None else RecordLocation(*row)

    def segment_entries(self, segment: str) -> dict[int, tuple[str, str]]:
        """seq -> (record id, hash) of the records indexed in `segment`."""
        rows = self._conn.execute(
            f"SELECT seq, record_id, hash FROM ({_RECORDS}) WHERE segment = ?", (segment,)
        )
        return {seq: (record_id, record_hash) for seq, record_id, record_hash in rows}

    def segment_ranges(self) -> dict[str, tuple[int, int, int]]:
        """segment key -> (records, first seq, last seq) as indexed."""
        rows = self._conn.execute(
            f"SELECT segment, COUNT(*), MIN(seq), MAX(seq) FROM ({_RECORDS}) GROUP BY segment"
        )
        return {segment: (count, first, last) for segment, count, first, last in rows}

    def review_entry(self, decision_id: str) -> ReviewEntry | None:
        """A decision with its review, if any."""
        row = self._conn.execute(
            f"SELECT {_SUMMARY_COLUMNS}, {_REVIEW_SUMMARY_COLUMNS} FROM decisions d "
            f"LEFT JOIN reviews r ON r.review_id = ({_FIRST_REVIEW}) WHERE d.decision_id = ?",
            (decision_id,),
        ).fetchone()
        return None if row is None else _review_entry(row)

    def pending_reviews(self, page_size: int, page_token: str) -> ReviewPage:
        """Escalated decisions without a review, oldest event first."""
        clauses, params = [f"d.action = {_ESCALATE}", f"NOT EXISTS ({_FIRST_REVIEW})"], []
        if page_token:
            after_ts, after_id = decode_token(page_token)
            clauses.append("(d.ts > ? OR (d.ts = ? AND d.decision_id > ?))")
            params = [after_ts, after_ts, after_id]
        rows = self._conn.execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM decisions d WHERE {' AND '.join(clauses)} "
            "ORDER BY d.ts, d.decision_id LIMIT ?",
            (*params, page_size + 1),
        ).fetchall()
        entries = [ReviewEntry(_summary(row), None) for row in rows[:page_size]]
        last = entries[-1].decision if len(rows) > page_size else None
        token = encode_token(last.event_time, last.decision_id) if last else ""
        return ReviewPage(entries, token)

    def review_queue(self) -> ReviewQueue:
        """Escalated decisions without a review: over the partial index of escalations."""
        pending, oldest = self._conn.execute(
            f"SELECT COUNT(*), MIN(d.ts) FROM decisions d WHERE d.action = {_ESCALATE} "
            f"AND NOT EXISTS ({_FIRST_REVIEW})"
        ).fetchone()
        return ReviewQueue(pending, oldest)

    def decided_reviews(self, page_size: int, page_token: str) -> ReviewPage:
        """Reviewed decisions, latest review first."""
        where, params = "", []
        if page_token:
            after_ts, after_id = decode_token(page_token)
            where = "WHERE (r.ts < ? OR (r.ts = ? AND r.review_id < ?))"
            params = [after_ts, after_ts, after_id]
        rows = self._conn.execute(
            f"SELECT {_SUMMARY_COLUMNS}, {_REVIEW_SUMMARY_COLUMNS} FROM reviews r "
            f"JOIN decisions d ON d.decision_id = r.decision_id AND r.review_id = "
            f"({_FIRST_REVIEW}) {where} ORDER BY r.ts DESC, r.review_id DESC LIMIT ?",
            (*params, page_size + 1),
        ).fetchall()
        entries = [_review_entry(row) for row in rows[:page_size]]
        review = entries[-1].review if len(rows) > page_size else None
        token = encode_token(review.reviewed_at, review.review_id) if review else ""
        return ReviewPage(entries, token)

    def context(
        self, user_id: str, device_id: str, ip: str, asn: int, as_of: float,
        bounds: ContextBounds,
    ) -> LoginContext:
        """GetContext: a handful of bounded index range scans."""
        windows = ContextWindows.ending_at(as_of, bounds)
        rows = self._conn.execute(
            _HISTORY, (user_id, as_of, bounds.history_limit + 1)
        ).fetchall()
        keep, truncated = history_cut([row[0] for row in rows], windows, bounds)
        history = [
            PastLogin(event=event_from_json(event_json), action=Action(action), risk=risk)
            for _, action, risk, event_json in rows[:keep]
        ]
        by_link = {
            kind: self._neighbors(kind, key, user_id, windows, bounds)
            for kind, key in links(device_id, ip, asn)
        }
        velocity = self._velocity(user_id, device_id, ip, windows, bounds)
        return assemble_context(history, truncated, by_link, velocity)

    def newest_rows(self, column: str, key: str | int, limit: int) -> list[Row]:
        """The key's newest `limit` rows, newest first (the context cache's loader)."""
        if column != USER:
            return [
                row_of(decision_id, user_id, ts, successful, action, risk, country, None)
                for decision_id, user_id, ts, successful, action, risk, country
                in self._conn.execute(
                    _NEWEST.format(event="", column=column), (key, limit)
                )
            ]
        return [
            row_of(decision_id, user_id, ts, successful, action, risk, country,
                   history_columns_from_json(event_json, action, risk))
            for decision_id, user_id, ts, successful, action, risk, country, event_json
            in self._conn.execute(_NEWEST.format(event=", event_json", column=column),
                                  (key, limit))
        ]

    def recent_rows(self, since: float, limit: int
                    ) -> tuple[list[tuple[Row, str, str, int]], float]:
        """The newest rows at or after `since`, at most `limit`, newest first (with device,
        IP and ASN), and the time after which they are every row of the index."""
        rows = [
            (row_of(decision_id, user_id, ts, successful, action, risk, country, None),
             device, ip, asn)
            for decision_id, user_id, ts, successful, action, risk, country, device, ip, asn
            in self._conn.execute(_RECENT, (since, limit))
        ]
        # A cut by the limit may leave out rows at the oldest scanned instant, never newer.
        floor = rows[-1][0][TS] if len(rows) == limit else math.nextafter(since, -math.inf)
        return rows, floor

    def _neighbors(
        self, kind: LinkKind, key: str | int, user_id: str, windows: ContextWindows,
        bounds: ContextBounds,
    ) -> LinkNeighbors:
        rows = self._conn.execute(
            _NEIGHBORS.format(column=_LINK_COLUMN[kind]),
            (
                int(Action.ALLOW), key, windows.neighbor_since, windows.as_of,
                bounds.scan_limit, user_id, max(bounds.neighbor_limit, 1),
            ),
        ).fetchall()
        neighbors = [
            Neighbor(
                link=kind, user_id=other, logins=logins, failures=int(failures),
                flagged=int(flagged), max_risk=max_risk, last_seen=last_seen,
            )
            for other, logins, failures, flagged, max_risk, last_seen, _ in rows
        ]
        return LinkNeighbors(
            neighbors=neighbors[: bounds.neighbor_limit], total_users=rows[0][6] if rows else 0,
            countries=self._countries(key, windows, bounds) if kind is LinkKind.ASN else 0,
        )

    def _countries(self, asn: str | int, windows: ContextWindows, bounds: ContextBounds) -> int:
        """distinct_countries of the ASN's scanned rows (the user's own too, which the
        neighbour query leaves out)."""
        (count,) = self._conn.execute(
            _COUNTRIES.format(column="asn"),
            (asn, windows.neighbor_since, windows.as_of, bounds.scan_limit),
        ).fetchone()
        return int(count)

    def _velocity(
        self, user_id: str, device_id: str, ip: str, windows: ContextWindows,
        bounds: ContextBounds,
    ) -> Velocity:
        def counts(column: str, key: str) -> tuple[int, int, int]:
            if not key:
                return 0, 0, 0
            attempts, failures, users = self._conn.execute(
                _VELOCITY.format(column=column),
                (key, windows.velocity_since, windows.as_of, bounds.scan_limit),
            ).fetchone()
            return attempts, int(failures), users

        user_attempts, user_failures, _ = counts("user_id", user_id)
        ip_attempts, ip_failures, ip_users = counts("ip", ip)
        _, _, device_users = counts("device_id", device_id)
        return Velocity(
            user_attempts=user_attempts,
            user_failures=user_failures,
            ip_attempts=ip_attempts,
            ip_failures=ip_failures,
            ip_distinct_users=ip_users,
            device_distinct_users=device_users,
            window_seconds=bounds.velocity_window_s,
        )

    def page(self, filters: DecisionFilter, page_size: int, page_token: str) -> DecisionPage:
        """One page of ListDecisions, newest event first (keyset pagination on ts, id)."""
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("user_id", filters.user_id),
            ("action", int(filters.action) if filters.action is not None else None),
            ("country", filters.country),
        ):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if filters.since is not None:
            clauses.append("ts >= ?")
            params.append(filters.since)
        if filters.until is not None:
            clauses.append("ts < ?")
            params.append(filters.until)
        if page_token:
            after_ts, after_id = decode_token(page_token)
            clauses.append("(ts < ? OR (ts = ? AND decision_id < ?))")
            params += [after_ts, after_ts, after_id]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._conn.execute(
            f"SELECT {_SUMMARY_COLUMNS} "
            f"FROM decisions d {where} ORDER BY ts DESC, decision_id DESC LIMIT ?",
            (*params, page_size + 1),
        ).fetchall()
        summaries = [_summary(row) for row in rows[:page_size]]
        last = summaries[-1] if len(rows) > page_size and summaries else None
        token = encode_token(last.event_time, last.decision_id) if last else ""
        return DecisionPage(decisions=summaries, next_page_token=token)


def _event_claims(conn: sqlite3.Connection, event_ids: Sequence[str]) -> dict[str, EventClaim]:
    found: dict[str, EventClaim] = {}
    for start in range(0, len(event_ids), _IN_CHUNK):
        chunk = event_ids[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        for event_id, decision_id, digest in conn.execute(
            "SELECT event_id, decision_id, digest FROM event_decisions "
            f"WHERE event_id IN ({marks})",
            chunk,
        ):
            found[event_id] = EventClaim(decision_id, digest)
    return found


def _summary(row: Sequence[Any]) -> DecisionSummary:
    """A DecisionSummary from the _SUMMARY_COLUMNS at the start of `row`."""
    decision_id, event_id, user_id, action, risk, ts, country, segment, seq = row[:9]
    return DecisionSummary(
        decision_id=decision_id, event_id=event_id, user_id=user_id, action=action, risk=risk,
        event_time=ts, country=country, audit_ref=audit_ref(segment, seq),
    )


def _review_entry(row: Sequence[Any]) -> ReviewEntry:
    """_SUMMARY_COLUMNS then _REVIEW_SUMMARY_COLUMNS (all NULL when there is no review)."""
    (review_id, decision_id, outcome, action, original_action, reviewer, reason, ts, segment,
     seq) = row[9:]
    review = None if review_id is None else ReviewSummary(
        review_id=review_id, decision_id=decision_id, outcome=outcome, action=action,
        original_action=original_action, reviewer=reviewer, reason=reason, reviewed_at=ts,
        audit_ref=audit_ref(segment, seq),
    )
    return ReviewEntry(_summary(row), review)
