"""The items of the DynamoDB index: their keys and attributes, written and read back."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aegis_domain.context_rules import LinkRow
from aegis_domain.types import Action
from audit_service.aws.resources import OPERATIONAL_TTL_S, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from audit_service.index_rows import IndexedDecision, IndexedReview, RecordLocation
from audit_service.log.layout import audit_ref
from audit_service.storage import DecisionSummary, ReviewSummary

Item = dict[str, dict[str, Any]]

DECISION_SK = "DECISION"
EVENT_SK = "EVENT"
META_KEY = {PARTITION_KEY: {"S": "META"}, SORT_KEY: {"S": "DAYS"}}
# Partitions of the by_time and by_action_region keys: a busy day, or every ALLOW of a
# country, would otherwise be one hot GSI partition (about 1,000 writes/s each).
GSI_SHARDS = 8
PENDING, DECIDED = "PENDING", "DECIDED"
# The state of an event item whose decision's record may not be in the log yet.
CLAIMED = "CLAIMED"


def ts_key(ts: float) -> str:
    """Fixed-width, so that string order is time order (up to year 9999, to the ns)."""
    return f"{ts:022.9f}"


def shard_of(record_id: str, shards: int) -> int:
    return zlib.crc32(record_id.encode("utf-8")) % shards


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def day_shard(day: str, shard: int) -> str:
    return f"{day}#{shard}"


def action_region(action: int, country: str, shard: int) -> str:
    return f"{Action(action).name}#{country}#{shard}"


def decision_key(record_id: str) -> Item:
    """Decision and review items: keyed by id, so a conditional write makes them idempotent
    and a strongly consistent read finds them."""
    return {PARTITION_KEY: {"S": f"DECISION#{record_id}"}, SORT_KEY: {"S": DECISION_SK}}


def event_key(event_id: str) -> Item:
    """The event item: which decision a login (event id) got. Claimed (conditionally) before
    the decision's record is written, completed once it is indexed."""
    return {PARTITION_KEY: {"S": f"EVENT#{event_id}"}, SORT_KEY: {"S": EVENT_SK}}


def event_item(row: IndexedDecision) -> Item:
    """The completed event item: the decision is in the log and indexed."""
    return {
        **event_key(row.event_id),
        "kind": _s("event"),
        "event_id": _s(row.event_id),
        "decision_id": _s(row.decision_id),
        "digest": _s(row.event_digest),
    }


def claim_item(row: IndexedDecision, segment: str, claimed_at: float) -> Item:
    """The event item while the decision's record is being written: where it is to be (so
    that another writer can tell a writer that crashed before its PUT) and since when (UTC
    epoch seconds, the claimant's clock)."""
    return {
        **event_item(row),
        "state": _s(CLAIMED),
        "segment": _s(segment),
        "claimed_at": _n(claimed_at),
    }


def user_partition(user_id: str, shard: int | None) -> str:
    return f"USER#{user_id}" if shard is None else f"USER#{user_id}#{shard}"


def login_sort_key(ts: float, decision_id: str) -> str:
    return f"TS#{ts_key(ts)}#{decision_id}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    # repr round-trips a float exactly; DynamoDB keeps the decimal string.
    return {"N": repr(value)}


def _location(location: RecordLocation) -> Item:
    return {
        "segment": _s(location.segment),
        "seq": _n(location.seq),
        "offset": _n(location.offset),
        "length": _n(location.length),
        "hash": _s(location.hash),
    }


def decision_item(row: IndexedDecision, location: RecordLocation) -> Item:
    shard = shard_of(row.decision_id, GSI_SHARDS)
    item: Item = {
        **decision_key(row.decision_id),
        "kind": _s("decision"),
        "record_id": _s(row.decision_id),
        "event_id": _s(row.event_id),
        "user_id": _s(row.user_id),
        "ts": _n(row.ts),
        "action": _n(row.action),
        "risk": _n(row.risk),
        "country": _s(row.country),
        "region": _s(row.region),
        "day_shard": _s(day_shard(day_of(row.ts), shard)),
        "action_region": _s(action_region(row.action, row.country, shard)),
        **_location(location),
    }
    if row.action == Action.ESCALATE:
        item["review_state"] = _s(PENDING)
        item["review_ts"] = _n(row.ts)
    return item


def review_item(row: IndexedReview, location: RecordLocation) -> Item:
    return {
        **decision_key(row.review_id),
        "kind": _s("review"),
        "record_id": _s(row.review_id),
        "reviewed_decision_id": _s(row.decision_id),
        "user_id": _s(row.user_id),
        "ts": _n(row.ts),
        "outcome": _n(row.outcome),
        "action": _n(row.action),
        "original_action": _n(row.original_action),
        "reviewer": _s(row.reviewer),
        "reason": _s(row.reason),
        **_location(location),
    }


def review_link(row: IndexedReview, location: RecordLocation) -> dict[str, Any]:
    """UpdateItem arguments (less the table) that mark the reviewed decision DECIDED; only
    the first review of a decision links (a second can only come from a race of writers)."""
    return {
        "Key": decision_key(row.decision_id),
        "UpdateExpression": (
            "SET review_id = :id, review_state = :state, review_ts = :ts, "
            "review_outcome = :outcome, review_action = :action, "
            "review_original_action = :original, reviewer = :reviewer, "
            "review_reason = :reason, review_segment = :segment, review_seq = :seq"
        ),
        "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(review_id)",
        "ExpressionAttributeValues": {
            ":id": _s(row.review_id),
            ":state": _s(DECIDED),
            ":ts": _n(row.ts),
            ":outcome": _n(row.outcome),
            ":action": _n(row.action),
            ":original": _n(row.original_action),
            ":reviewer": _s(row.reviewer),
            ":reason": _s(row.reason),
            ":segment": _s(location.segment),
            ":seq": _n(location.seq),
        },
    }


def login_item(
    row: IndexedDecision, location: RecordLocation, shard: int | None, recorded_at: float
) -> Item:
    """The operational item of one login: history, neighbourhood and velocity read these.
    It expires OPERATIONAL_TTL_S after it was written (not after the event: replays of old
    logins must still be context for the ones after them)."""
    item: Item = {
        PARTITION_KEY: _s(user_partition(row.user_id, shard)),
        SORT_KEY: _s(login_sort_key(row.ts, row.decision_id)),
        "kind": _s("login"),
        "decision_id": _s(row.decision_id),
        "event_id": _s(row.event_id),
        "user_id": _s(row.user_id),
        "ts": _n(row.ts),
        "action": _n(row.action),
        "risk": _n(row.risk),
        "country": _s(row.country),
        "login_successful": {"BOOL": row.login_successful},
        "event_json": _s(row.event_json),
        "segment": _s(location.segment),
        "seq": _n(location.seq),
        TTL_ATTRIBUTE: _n(int(recorded_at + OPERATIONAL_TTL_S)),
    }
    optional = {
        "session_id": row.session_id, "device_id": row.device_id, "ip": row.ip,
        "asn_key": str(row.asn) if row.asn else "",
    }
    item |= {name: _s(value) for name, value in optional.items() if value}
    return item


# Reading items back.


def text(item: Mapping[str, Any], name: str) -> str:
    return str(item[name]["S"]) if name in item else ""


def number(item: Mapping[str, Any], name: str) -> float:
    return float(item[name]["N"])


def integer(item: Mapping[str, Any], name: str) -> int:
    return int(item[name]["N"])


def item_location(item: Mapping[str, Any]) -> RecordLocation:
    return RecordLocation(
        segment=text(item, "segment"),
        seq=integer(item, "seq"),
        offset=integer(item, "offset"),
        length=integer(item, "length"),
        hash=text(item, "hash"),
    )


def item_ref(item: Mapping[str, Any]) -> str:
    return audit_ref(text(item, "segment"), integer(item, "seq"))


def summary(item: Mapping[str, Any]) -> DecisionSummary:
    """From a decision item or a login item (both carry these attributes)."""
    return DecisionSummary(
        decision_id=text(item, "record_id") or text(item, "decision_id"),
        event_id=text(item, "event_id"),
        user_id=text(item, "user_id"),
        action=integer(item, "action"),
        risk=number(item, "risk"),
        event_time=number(item, "ts"),
        country=text(item, "country"),
        audit_ref=item_ref(item),
    )


def review_summary(item: Mapping[str, Any]) -> ReviewSummary | None:
    """The review linked to a decision item; None while it has none."""
    if "review_id" not in item:
        return None
    return ReviewSummary(
        review_id=text(item, "review_id"),
        decision_id=text(item, "record_id"),
        outcome=integer(item, "review_outcome"),
        action=integer(item, "review_action"),
        original_action=integer(item, "review_original_action"),
        reviewer=text(item, "reviewer"),
        reason=text(item, "review_reason"),
        reviewed_at=number(item, "review_ts"),
        audit_ref=audit_ref(text(item, "review_segment"), integer(item, "review_seq")),
    )


def link_row(item: Mapping[str, Any]) -> LinkRow:
    return LinkRow(
        user_id=text(item, "user_id"),
        ts=number(item, "ts"),
        login_successful=bool(item["login_successful"]["BOOL"]),
        action=integer(item, "action"),
        risk=number(item, "risk"),
        country=text(item, "country"),
    )
