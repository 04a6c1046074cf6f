"""Event claims of the AWS backend: a writer claims an event id for its decision (a
conditional put of the event item) before it writes the record to S3, so that two writers
racing on one login never both log a decision for it; indexing the record completes the
claim."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aegis_runtime.errors import Unavailable
from audit_service.aws.clients import Retrier, error_code
from audit_service.aws.items import CLAIMED, Item, claim_item, event_item, event_key
from audit_service.index_rows import IndexedDecision

# A retry of the same decision (after a failed or unknown PUT, on this writer or another)
# renews its own claim.
_FREE_OR_MINE = "attribute_not_exists(PK) OR decision_id = :mine"


class EventClaims:
    """The conditional writes of event items. Thread-safe (boto3 clients are); calls are
    retried by `retrier` and fanned out over `pool`."""

    def __init__(self, ddb: Any, table: str, retrier: Retrier, pool: ThreadPoolExecutor) -> None:
        self._ddb = ddb
        self._table = table
        self._retrier = retrier
        self._pool = pool

    def claim(
        self, rows: Sequence[IndexedDecision], segment: str, claimed_at: float,
        deadline: float | None,
    ) -> dict[str, Item]:
        """Claim each row's event for its decision, to be written to `segment`. Returns
        event id -> the event item of another decision that holds it."""
        holders = self._pool.map(
            lambda row: self._put(
                claim_item(row, segment, claimed_at), _FREE_OR_MINE,
                {":mine": {"S": row.decision_id}}, deadline,
            ),
            rows,
        )
        return {row.event_id: held
                for row, held in zip(rows, holders, strict=True) if held is not None}

    def take_over(
        self, row: IndexedDecision, segment: str, claimed_at: float, holder: Item,
        deadline: float | None,
    ) -> Item | None:
        """Claim an event whose claim `holder` was abandoned, unless that claim changed since
        it was read (another writer took it over first). None when the event is now this
        row's; else the event item that holds it."""
        return self._put(
            claim_item(row, segment, claimed_at),
            "decision_id = :held AND claimed_at = :since",
            {":held": holder["decision_id"], ":since": holder["claimed_at"]}, deadline,
        )

    def release(self, rows: Sequence[IndexedDecision], segment: str,
                deadline: float | None) -> None:
        """Give up the rows' claims for `segment`, whose PUT did not land, so that another
        decision of those logins need not wait for the lease; a claim renewed or taken
        since (for another segment or decision) stays."""

        def release_one(row: IndexedDecision) -> None:
            try:
                self._retrier.call(
                    self._ddb.delete_item, TableName=self._table, Key=event_key(row.event_id),
                    ConditionExpression="decision_id = :mine AND #state = :claimed "
                    "AND #segment = :segment",
                    ExpressionAttributeNames={"#state": "state", "#segment": "segment"},
                    ExpressionAttributeValues={
                        ":mine": {"S": row.decision_id}, ":claimed": {"S": CLAIMED},
                        ":segment": {"S": segment},
                    },
                    deadline=deadline,
                )
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise

        list(self._pool.map(release_one, rows))

    def complete(self, row: IndexedDecision, deadline: float | None) -> bool:
        """Mark the row's event decided by it, now that it is indexed; False when another
        decision holds the event (a log written before claims, or by a race they prevent
        now: the first indexed stands)."""
        return self._put(
            event_item(row), _FREE_OR_MINE, {":mine": {"S": row.decision_id}}, deadline
        ) is None

    def _put(self, item: Item, condition: str, values: Item, deadline: float | None
             ) -> Item | None:
        """Put `item` if `condition` holds: None; else the item that stands."""
        try:
            self._retrier.call(
                self._ddb.put_item, TableName=self._table, Item=item,
                ConditionExpression=condition, ExpressionAttributeValues=values,
                deadline=deadline,
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
        else:
            return None
        reply = self._retrier.call(
            self._ddb.get_item, TableName=self._table, Key=event_key(item["event_id"]["S"]),
            ConsistentRead=True, deadline=deadline,
        )
        if "Item" not in reply:
            # Event items are never deleted: only a table rebuilt meanwhile gets here.
            raise Unavailable(f"the claim of event {item['event_id']['S']!r} is gone; retry")
        held: Item = reply["Item"]
        return held
