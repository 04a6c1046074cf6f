"""The input stream's shards, and which of them may be read now: after a reshard, a child
shard only once its parents are finished, so that one user's records (one partition key,
hence one shard at a time) are scored in the order they were put."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest_service.leases import Lease

_PARENT_KEYS = ("ParentShardId", "AdjacentParentShardId")


def list_shards(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    """Every shard the stream lists (open, and closed but not yet trimmed), in its order."""
    shards: list[dict[str, Any]] = []
    reply = kinesis.list_shards(StreamName=stream)
    shards += reply["Shards"]
    while reply.get("NextToken"):
        reply = kinesis.list_shards(NextToken=reply["NextToken"])
        shards += reply["Shards"]
    return shards


def ready_shards(shards: list[dict[str, Any]], leases: Mapping[str, Lease]) -> list[str]:
    """The shards to read now, in the stream's order: not finished (by their leases), with
    every parent (a split's one, a merge's two) finished. A parent the stream no longer lists
    has been trimmed: nothing of it is left to read first."""
    known = {s["ShardId"] for s in shards}

    def finished(shard_id: str) -> bool:
        lease = leases.get(shard_id)
        return lease is not None and lease.finished

    return [
        shard["ShardId"] for shard in shards
        if not finished(shard["ShardId"])
        and not any(shard.get(k) in known and not finished(shard[k]) for k in _PARENT_KEYS)
    ]
