"""Puts decisions and dead letters on their streams, retrying the entries Kinesis refused."""

from __future__ import annotations

import base64
import json
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from ingest_service.scoring import DeadLetter, Scored


class PartlyRefused(Exception):
    """PutRecords left entries unwritten (throttling): they are sent again."""


def decision_entry(scored: Scored) -> dict[str, Any]:
    """An output record: the serialized Decision, partitioned by user like the input."""
    return {"Data": scored.decision.SerializeToString(), "PartitionKey": scored.user_id}


def dead_letter_entry(letter: DeadLetter, shard_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """A dead letter: JSON naming where the record was, why it failed, and its bytes."""
    body = {
        "reason": letter.reason,
        "shard_id": shard_id,
        "sequence_number": record["SequenceNumber"],
        "partition_key": record["PartitionKey"],
        "data_base64": base64.b64encode(record["Data"]).decode("ascii"),
    }
    return {"Data": json.dumps(body).encode("utf-8"), "PartitionKey": shard_id}


def put_all(kinesis: Any, stream: str, entries: list[dict[str, Any]], within_s: float) -> None:
    """Write every entry (a throttled one is sent again, up to `within_s`); raises if some
    are still unwritten, so that the checkpoint does not pass them."""
    pending = list(entries)

    def attempt() -> None:
        refused: list[dict[str, Any]] = []
        # PutRecords takes at most 500 entries.
        for start in range(0, len(pending), 500):
            chunk = pending[start:start + 500]
            reply = kinesis.put_records(StreamName=stream, Records=chunk)
            refused += [e for e, r in zip(chunk, reply["Records"], strict=True) if "ErrorCode" in r]
        pending[:] = refused
        if pending:
            raise PartlyRefused(f"{len(pending)} records refused by {stream}")

    for attempt_state in Retrying(
        retry=retry_if_exception_type(PartlyRefused), stop=stop_after_delay(within_s),
        wait=wait_random_exponential(multiplier=0.05, max=2), reraise=True,
    ):
        with attempt_state:
            if pending:
                attempt()
