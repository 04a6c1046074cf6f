"""The AWS backend's index: the DynamoDB table of resources.py, derived from the S3 log."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import Any

from aegis_domain.context_rules import (
    ContextBounds,
    ContextWindows,
    LinkRow,
    assemble_context,
    history_cut,
    link_neighbors,
    links,
    window_counts,
)
from aegis_domain.types import Action, LinkKind, LoginContext, PastLogin, Velocity
from audit_service.aws.claims import EventClaims
from audit_service.aws.clients import PartialBatch, Retrier, error_code
from audit_service.aws.items import (
    CLAIMED,
    DECIDED,
    GSI_SHARDS,
    META_KEY,
    PENDING,
    Item,
    action_region,
    day_of,
    day_shard,
    decision_item,
    decision_key,
    event_key,
    integer,
    item_ref,
    link_row,
    login_item,
    number,
    review_item,
    review_link,
    review_summary,
    shard_of,
    summary,
    text,
    ts_key,
    user_partition,
)
from audit_service.index_rows import (
    IndexedDecision,
    IndexedEntry,
    IndexedReview,
    RecordLocation,
    event_from_json,
    record_id,
)
from audit_service.paging import decode_token, encode_token
from audit_service.storage import (
    DecisionFilter,
    DecisionPage,
    DecisionSummary,
    EventClaim,
    ReviewEntry,
    ReviewPage,
    ReviewQueue,
)

_BATCH_GET = 100  # DynamoDB's limit per BatchGetItem
_BATCH_WRITE = 25  # and per BatchWriteItem
_NO_END = 253_402_300_800.0  # 10000-01-01: later than any event
_LINK_INDEX = {
    LinkKind.DEVICE: ("by_device", "device_id"),
    LinkKind.IP: ("by_ip", "ip"),
    LinkKind.ASN: ("by_asn", "asn_key"),
}


Order = Callable[[Item], tuple[float, str]]


def _by_ts(item: Item) -> tuple[float, str]:
    return number(item, "ts"), text(item, "record_id") or text(item, "decision_id")


def _tie_sorted(items: Iterable[Item], order: Order, *, reverse: bool) -> Iterator[Item]:
    """Items of one query, already in time order, with equal times put in id order too: a
    GSI orders those as it likes, and pages must be the same on every backend."""
    run: list[Item] = []
    for item in items:
        if run and order(run[-1])[0] != order(item)[0]:
            yield from sorted(run, key=order, reverse=reverse)
            run = []
        run.append(item)
    yield from sorted(run, key=order, reverse=reverse)


class DynamoIndex:
    """Reads and writes of the index. Thread-safe (boto3 clients are); calls are retried by
    `retrier` and fanned out over `pool`."""

    def __init__(
        self, ddb: Any, table: str, retrier: Retrier, pool: ThreadPoolExecutor,
        hot_users: Iterable[str], hot_user_shards: int,
    ) -> None:
        self._ddb = ddb
        self.table = table
        self._retrier = retrier
        self._pool = pool
        self._hot_users = frozenset(hot_users)
        self._hot_user_shards = hot_user_shards
        self._known_days: set[str] = set()
        self.claims = EventClaims(ddb, table, retrier, pool)

    def exists(self, deadline: float | None = None) -> bool:
        try:
            self._retrier.call(self._ddb.describe_table, TableName=self.table,
                               deadline=deadline)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    # Writes.

    def known_refs(self, record_ids: Sequence[str], deadline: float | None = None
                   ) -> dict[str, str]:
        """record id -> audit reference, for the ids already indexed (consistent reads)."""
        items = self._batch_get([decision_key(i) for i in dict.fromkeys(record_ids)], deadline)
        return {text(item, "record_id"): item_ref(item) for item in items}

    def event_claims(self, event_ids: Sequence[str], deadline: float | None = None
                     ) -> dict[str, EventClaim]:
        """event id -> the decision indexed for it (consistent reads). A claim whose record
        may not be written yet is left out: only claiming the event again tells whether it
        still holds."""
        items = self._batch_get([event_key(i) for i in dict.fromkeys(event_ids)], deadline)
        return {text(item, "event_id"): EventClaim(text(item, "decision_id"),
                                                   text(item, "digest"))
                for item in items if text(item, "state") != CLAIMED}

    def get(self, record_id: str) -> Item | None:
        """The decision or review item of `record_id` (a consistent read)."""
        reply = self._retrier.call(
            self._ddb.get_item, TableName=self.table, Key=decision_key(record_id),
            ConsistentRead=True,
        )
        item: Item | None = reply.get("Item")
        return item

    def write(
        self, rows: Sequence[tuple[IndexedEntry, RecordLocation]], recorded_at: float,
        deadline: float | None = None,
    ) -> dict[str, str]:
        """Index records of the log. Decision and review items are written conditionally, so
        rewriting a record is harmless; returns id -> reference for the records another
        writer had indexed first (a duplicate in the log: the first one stands)."""
        outcomes = list(self._pool.map(lambda row: self._put_first(row, deadline), rows))
        duplicates = {record_id(entry): ref
                      for (entry, _), ref in zip(rows, outcomes, strict=True) if ref}
        winners = [row for row, ref in zip(rows, outcomes, strict=True) if not ref]
        logins = [
            login_item(entry, location, self._user_shard(entry), recorded_at)
            for entry, location in winners if isinstance(entry, IndexedDecision)
        ]
        chunks = [logins[i : i + _BATCH_WRITE] for i in range(0, len(logins), _BATCH_WRITE)]
        list(self._pool.map(lambda chunk: self._batch_put(chunk, deadline), chunks))
        for entry, location in winners:
            if isinstance(entry, IndexedReview):
                self._link_review(entry, location, deadline)
        self._note_days(
            {day_of(entry.ts) for entry, _ in winners if isinstance(entry, IndexedDecision)},
            deadline,
        )
        return duplicates

    def _put_first(self, row: tuple[IndexedEntry, RecordLocation], deadline: float | None
                   ) -> str:
        """"" when the item is now as `row` says; else the reference indexed before."""
        entry, location = row
        item = (review_item(entry, location) if isinstance(entry, IndexedReview)
                else decision_item(entry, location))
        if not self._put_new(item, deadline):
            existing = self.get(text(item, "record_id"))
            if existing is not None and (text(existing, "segment"), integer(existing, "seq")) != (
                location.segment, location.seq
            ):
                return item_ref(existing)
        if isinstance(entry, IndexedDecision):
            self.claims.complete(entry, deadline)
        return ""

    def _put_new(self, item: Item, deadline: float | None) -> bool:
        """Put `item` unless its key exists; False when it did."""
        try:
            self._retrier.call(
                self._ddb.put_item, TableName=self.table, Item=item,
                ConditionExpression="attribute_not_exists(PK)", deadline=deadline,
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _link_review(self, entry: IndexedReview, location: RecordLocation,
                     deadline: float | None) -> None:
        try:
            self._retrier.call(self._ddb.update_item, TableName=self.table,
                               **review_link(entry, location), deadline=deadline)
        except Exception as exc:
            # The decision already has its (first) review: this one stays in the log only.
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def _note_days(self, days: set[str], deadline: float | None) -> None:
        """Keep the set of event days in the table: ListDecisions walks the by_time index
        day by day and must know which days hold decisions."""
        new = days - self._known_days
        if not new:
            return
        self._retrier.call(
            self._ddb.update_item, TableName=self.table, Key=META_KEY,
            UpdateExpression="ADD days :days",
            ExpressionAttributeValues={":days": {"SS": sorted(new)}}, deadline=deadline,
        )
        self._known_days |= new

    def _user_shard(self, entry: IndexedDecision) -> int | None:
        if entry.user_id not in self._hot_users:
            return None
        return shard_of(entry.decision_id, self._hot_user_shards)

    def _batch_put(self, items: list[Item], deadline: float | None) -> None:
        pending = [{"PutRequest": {"Item": item}} for item in items]

        def attempt() -> None:
            reply = self._ddb.batch_write_item(RequestItems={self.table: pending})
            left = reply.get("UnprocessedItems", {}).get(self.table, [])
            pending[:] = left
            if left:
                raise PartialBatch(f"{len(left)} items unprocessed")

        self._retrier.call(attempt, deadline=deadline)

    def _batch_get(self, keys: list[Item], deadline: float | None) -> list[Item]:
        found: list[Item] = []
        for start in range(0, len(keys), _BATCH_GET):
            pending = keys[start : start + _BATCH_GET]

            def attempt(pending: list[Item] = pending) -> None:
                reply = self._ddb.batch_get_item(
                    RequestItems={self.table: {"Keys": pending, "ConsistentRead": True}}
                )
                found.extend(reply.get("Responses", {}).get(self.table, []))
                left = reply.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                pending[:] = left
                if left:
                    raise PartialBatch(f"{len(left)} keys unprocessed")

            self._retrier.call(attempt, deadline=deadline)
        return found

    # Reads.

    def _query(self, **args: Any) -> Iterator[Item]:
        """Every item of a query, page after page, as the caller reads them."""
        while True:
            reply = self._retrier.call(self._ddb.query, TableName=self.table, **args)
            yield from reply.get("Items", [])
            last = reply.get("LastEvaluatedKey")
            if not last:
                return
            args["ExclusiveStartKey"] = last

    def _user_partitions(self, user_id: str) -> list[str]:
        partitions = [user_partition(user_id, None)]
        if user_id in self._hot_users:
            partitions += [user_partition(user_id, s) for s in range(self._hot_user_shards)]
        return partitions

    def _user_logins(self, user_id: str, low: str, high: str, limit: int | None
                     ) -> Iterator[Item]:
        """The user's login items with sort key in [low, high], newest first, over all of
        the user's partitions."""

        def partition(pk: str) -> Iterator[Item]:
            args: dict[str, Any] = {
                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
                "ExpressionAttributeValues": {
                    ":pk": {"S": pk}, ":low": {"S": low}, ":high": {"S": high}
                },
                "ScanIndexForward": False,
            }
            if limit is not None:
                args["Limit"] = limit
            return self._query(**args)

        return heapq.merge(
            *(partition(pk) for pk in self._user_partitions(user_id)),
            key=lambda item: text(item, "SK"), reverse=True,
        )

    def _gsi_newest(self, index: str, attribute: str, key: str, low: float, high: float,
                    limit: int | None = None) -> Iterator[Item]:
        """Items of `index` with `attribute` = key and ts in [low, high], newest first."""
        args: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": "#key = :key AND ts BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#key": attribute},
            "ExpressionAttributeValues": {
                ":key": {"S": key}, ":low": {"N": repr(low)}, ":high": {"N": repr(high)},
            },
            "ScanIndexForward": False,
        }
        if limit is not None:
            args["Limit"] = limit
        return self._query(**args)

    def context(
        self, user_id: str, device_id: str, ip: str, asn: int, as_of: float,
        bounds: ContextBounds,
    ) -> LoginContext:
        """GetContext: the user's partitions and one GSI scan per link, all at once; the
        aggregation is context.py's, so the answers equal the embedded index's."""
        windows = ContextWindows.ending_at(as_of, bounds)
        keys = dict(links(device_id, ip, asn))
        link_since = min(windows.neighbor_since, windows.velocity_since)

        def user_rows() -> list[Item]:
            limit = max(bounds.history_limit + 1, bounds.scan_limit)
            newest = self._user_logins(user_id, "TS#", f"TS#{ts_key(as_of)}", limit)
            return [item for _, item in zip(range(limit), newest, strict=False)]

        def link_rows(kind: LinkKind) -> list[LinkRow]:
            if kind not in keys:
                return []
            index, attribute = _LINK_INDEX[kind]
            since = windows.neighbor_since if kind is LinkKind.ASN else link_since
            rows = (
                link_row(item)
                for item in self._gsi_newest(index, attribute, str(keys[kind]), since, as_of,
                                             bounds.scan_limit + 1)
            )
            before = (row for row in rows if row.ts < as_of)
            return [row for _, row in zip(range(bounds.scan_limit), before, strict=False)]

        user_job = self._pool.submit(user_rows)
        link_jobs = {kind: self._pool.submit(link_rows, kind) for kind in _LINK_INDEX}
        users = user_job.result()
        by_kind = {kind: job.result() for kind, job in link_jobs.items()}

        head = users[: bounds.history_limit + 1]
        keep, truncated = history_cut([number(item, "ts") for item in head], windows, bounds)
        history = [
            PastLogin(event=event_from_json(text(item, "event_json")),
                      action=Action(integer(item, "action")), risk=number(item, "risk"))
            for item in head[:keep]
        ]

        def in_window(rows: Iterable[LinkRow], since: float) -> list[LinkRow]:
            return [row for row in rows if row.ts >= since][: bounds.scan_limit]

        by_link = {
            kind: link_neighbors(kind, in_window(by_kind[kind], windows.neighbor_since),
                                 user_id, bounds)
            for kind in keys
        }
        user_attempts, user_failures, _ = window_counts(
            in_window(map(link_row, users), windows.velocity_since)
        )
        ip_attempts, ip_failures, ip_users = window_counts(
            in_window(by_kind[LinkKind.IP], windows.velocity_since)
        )
        _, _, device_users = window_counts(
            in_window(by_kind[LinkKind.DEVICE], windows.velocity_since)
        )
        velocity = Velocity(
            user_attempts=user_attempts, user_failures=user_failures,
            ip_attempts=ip_attempts, ip_failures=ip_failures, ip_distinct_users=ip_users,
            device_distinct_users=device_users, window_seconds=bounds.velocity_window_s,
        )
        return assemble_context(history, truncated, by_link, velocity)

    def page(self, filters: DecisionFilter, size: int, page_token: str) -> DecisionPage:
        """ListDecisions, newest event first: the user's partitions when a user is named,
        else by_action_region for an action and a country, else by_time day by day."""
        after = decode_token(page_token) if page_token else None
        low = filters.since if filters.since is not None else 0.0
        high = min(filters.until if filters.until is not None else _NO_END,
                   after[0] if after else _NO_END)
        action = int(filters.action) if filters.action is not None else None

        def keep(s: DecisionSummary) -> bool:
            return (
                (not filters.user_id or s.user_id == filters.user_id)
                and (action is None or s.action == action)
                and (not filters.country or s.country == filters.country)
                and s.event_time >= low
                and (filters.until is None or s.event_time < filters.until)
                and (after is None or (s.event_time, s.decision_id) < after)
            )

        if filters.user_id:
            items: Iterator[Item] = self._user_logins(
                filters.user_id, f"TS#{ts_key(low)}", f"TS#{ts_key(high)}~", None
            )
        elif action is not None and filters.country:
            items = self._sharded_newest(
                "by_action_region", "action_region",
                [action_region(action, filters.country, s) for s in range(GSI_SHARDS)],
                low, high,
            )
        else:
            items = chain.from_iterable(
                self._sharded_newest("by_time", "day_shard",
                                     [day_shard(day, s) for s in range(GSI_SHARDS)], low, high)
                for day in self._days_between(low, high)
            )
        rows: list[DecisionSummary] = []
        for candidate in map(summary, items):
            if keep(candidate):
                rows.append(candidate)
                if len(rows) > size:
                    break
        last = rows[size - 1] if len(rows) > size else None
        token = encode_token(last.event_time, last.decision_id) if last else ""
        return DecisionPage(decisions=rows[:size], next_page_token=token)

    def _sharded_newest(self, index: str, attribute: str, keys: list[str], low: float,
                        high: float) -> Iterator[Item]:
        shards = [
            _tie_sorted(self._gsi_newest(index, attribute, key, low, high), _by_ts, reverse=True)
            for key in keys
        ]
        return heapq.merge(*shards, key=_by_ts, reverse=True)

    def _days_between(self, low: float, high: float) -> list[str]:
        reply = self._retrier.call(self._ddb.get_item, TableName=self.table, Key=META_KEY,
                                   ConsistentRead=True)
        days = reply.get("Item", {}).get("days", {}).get("SS", [])
        first, last = day_of(low), day_of(min(high, _NO_END - 1))
        return sorted((d for d in days if first <= d <= last), reverse=True)

    def review_entry(self, decision_id: str) -> ReviewEntry | None:
        item = self.get(decision_id)
        if item is None or text(item, "kind") != "decision":
            return None
        return ReviewEntry(summary(item), review_summary(item))

    def review_queue(self) -> ReviewQueue:
        """The PENDING partition of by_review_state (a review moves its decision to DECIDED):
        counted page after page (Select=COUNT: no item comes back), and its first item by
        event time."""
        pending: dict[str, Any] = {
            "IndexName": "by_review_state", "KeyConditionExpression": "review_state = :state",
            "ExpressionAttributeValues": {":state": {"S": PENDING}},
        }
        count, args = 0, {**pending, "Select": "COUNT"}
        while True:
            reply = self._retrier.call(self._ddb.query, TableName=self.table, **args)
            count += reply["Count"]
            if not (last := reply.get("LastEvaluatedKey")):
                break
            args["ExclusiveStartKey"] = last
        oldest = next(self._query(**pending, Limit=1, ScanIndexForward=True), None)
        return ReviewQueue(count, None if oldest is None else number(oldest, "review_ts"))

    def reviews(self, decided: bool, size: int, page_token: str) -> ReviewPage:
        """Pending: oldest event first; decided: latest review first (by_review_state)."""
        after = decode_token(page_token) if page_token else None
        low, high = 0.0, _NO_END
        if after is not None:
            low, high = (low, after[0]) if decided else (after[0], high)
        items = self._query(
            IndexName="by_review_state",
            KeyConditionExpression="review_state = :state AND review_ts BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":state": {"S": DECIDED if decided else PENDING},
                ":low": {"N": repr(low)}, ":high": {"N": repr(high)},
            },
            ScanIndexForward=not decided,
        )

        def order(item: Item) -> tuple[float, str]:
            if decided:
                return number(item, "review_ts"), text(item, "review_id")
            return number(item, "ts"), text(item, "record_id")

        ordered = _tie_sorted(items, order, reverse=decided)
        def beyond(item: Item) -> bool:
            if after is None:
                return True
            return order(item) < after if decided else order(item) > after

        entries: list[ReviewEntry] = []
        last: tuple[float, str] | None = None
        for item in ordered:
            if beyond(item):
                if len(entries) == size:
                    return ReviewPage(entries, encode_token(*last) if last else "")
                entries.append(ReviewEntry(summary(item), review_summary(item)))
                last = order(item)
        return ReviewPage(entries, "")

    def segment_entries(
        self, segment: str, record_ids: Iterable[str]
    ) -> dict[int, tuple[str, str]]:
        """seq -> (record id, hash) that the index holds in `segment` for these ids."""
        items = self._batch_get([decision_key(i) for i in dict.fromkeys(record_ids)], None)
        return {
            integer(item, "seq"): (text(item, "record_id"), text(item, "hash"))
            for item in items if text(item, "segment") == segment
        }


