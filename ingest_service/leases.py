"""Shard leases and checkpoints in one DynamoDB table; every transition is a conditional
write, so two consumers racing for a shard or a checkpoint cannot both win.

One item per shard: `shard_id` (key), `owner`, `expires_at` (epoch seconds), `checkpoint`
(the sequence number of the last record whose decision is audited and published) and
`finished` (the shard is closed and read to its end, so its children may start)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

_LOST = "ConditionalCheckFailedException"


class LeaseLost(Exception):
    """Another consumer holds the shard now: stop working on it (what was done is repeated
    by the new owner, and the router answers those repeats with the recorded decisions)."""


@dataclass(frozen=True, slots=True)
class Lease:
    shard_id: str
    checkpoint: str | None
    finished: bool
    owner: str
    expires_at: float


def _lease_of(item: dict[str, Any]) -> Lease:
    return Lease(
        item["shard_id"]["S"], item.get("checkpoint", {}).get("S"),
        item.get("finished", {}).get("BOOL", False), item.get("owner", {}).get("S", ""),
        float(item.get("expires_at", {}).get("N", "0")),
    )


def _lost(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == _LOST


class LeaseTable:
    """This consumer's view of the lease table."""

    def __init__(self, dynamodb: Any, table: str, owner: str, lease_s: float,
                 clock: Callable[[], float]) -> None:
        self._db = dynamodb
        self._table = table
        self.owner = owner
        self._lease_s = lease_s
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def read(self, shard_id: str) -> Lease | None:
        """The shard's lease as stored (None: no consumer ever took it)."""
        item = self._db.get_item(
            TableName=self._table, Key={"shard_id": {"S": shard_id}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else _lease_of(item)

    def all(self) -> list[Lease]:
        """Every shard's lease (one item per shard: a small table)."""
        leases: list[Lease] = []
        options: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True}
        while True:
            reply = self._db.scan(**options)
            leases += [_lease_of(item) for item in reply["Items"]]
            if "LastEvaluatedKey" not in reply:
                return leases
            options["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def steal(self, lease: Lease) -> Lease | None:
        """Take a live lease from its owner, as long as it is unchanged since `lease` was read
        (balancing: a consumer holding more than its share gives one up). The owner finds out
        at its next renewal or checkpoint."""
        return self._claim(
            lease.shard_id, "#o = :was AND expires_at = :seen",
            {":was": {"S": lease.owner}, ":seen": {"N": repr(lease.expires_at)}},
        )

    def take(self, shard_id: str) -> Lease | None:
        """Take (or renew) the shard's lease: only when nobody holds it, this consumer does, or
        its holder let it expire. None when another consumer holds it."""
        return self._claim(
            shard_id, "attribute_not_exists(shard_id) OR #o = :me OR expires_at < :now",
            {":now": {"N": repr(self._clock())}},
        )

    def _claim(self, shard_id: str, condition: str, values: dict[str, Any]) -> Lease | None:
        """Make this consumer the owner for lease_s from now, if `condition` holds."""
        try:
            item = self._db.update_item(
                TableName=self._table,
                Key={"shard_id": {"S": shard_id}},
                UpdateExpression="SET #o = :me, expires_at = :until",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={
                    ":me": {"S": self.owner},
                    ":until": {"N": repr(self._clock() + self._lease_s)}, **values,
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if _lost(exc):
                return None
            raise
        return _lease_of(item)

    def checkpoint(self, shard_id: str, sequence_number: str | None, *,
                   finished: bool = False) -> None:
        """Advance the shard's checkpoint (None: keep it) and renew the lease, while this
        consumer holds it; `finished`: the shard is closed and read to its end."""
        now = self._clock()
        values = {
            ":me": {"S": self.owner}, ":until": {"N": repr(now + self._lease_s)},
            ":done": {"BOOL": finished},
        }
        update = "SET expires_at = :until, #f = :done"
        if sequence_number is not None:
            update += ", #c = :seq"
            values[":seq"] = {"S": sequence_number}
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"shard_id": {"S": shard_id}},
                UpdateExpression=update,
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner", "#f": "finished", "#c": "checkpoint"}
                if sequence_number is not None else {"#o": "owner", "#f": "finished"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _lost(exc):
                raise LeaseLost(shard_id) from exc
            raise

    def release(self, shard_id: str) -> None:
        """Let the shard go at once (a drain), so another consumer need not wait for expiry."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"shard_id": {"S": shard_id}},
                UpdateExpression="SET expires_at = :zero",
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": self.owner}, ":zero": {"N": "0"}},
            )
        except ClientError as exc:
            if not _lost(exc):
                raise
