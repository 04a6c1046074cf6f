"""What the index keeps of a decision: query columns, the event for history, its location."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from operator import itemgetter
from typing import Any

from google.protobuf import json_format

from aegis.v1 import common_pb2
from aegis_domain.convert import event_from_proto, timestamp_to_seconds
from aegis_domain.digest import event_digest
from aegis_domain.login_history import COLUMNS, OPTIONAL_COLUMNS, column_row
from aegis_domain.types import Action, AuthMethod, DeviceType, LoginEvent, PastLogin
from audit_service.log.chain import MalformedLine

_EVENT_FIELDS = tuple(f.name for f in fields(LoginEvent))
# A history row's columns: the event's fields (enums are ints in the JSON as in the columns,
# absent optional floats None there and NaN here), then the decision's action and risk.
_EVENT_COLUMNS = itemgetter(*COLUMNS[:-2])
_OPTIONAL_AT = [COLUMNS.index(name) for name in OPTIONAL_COLUMNS]
assert COLUMNS[-2:] == ("action", "risk")
# Only what an index row needs is parsed back from a log line: the full record (with its
# context) costs milliseconds to parse, these parts microseconds.
_INDEXED_DECISION_FIELDS = ("decision_id", "event_id", "action", "risk")


@dataclass(frozen=True, slots=True)
class IndexedDecision:
    """The columns of one decision in the index. `ts` is the event's UTC epoch seconds."""

    decision_id: str
    event_id: str
    user_id: str
    ts: float
    action: int
    risk: float
    country: str
    region: str
    device_id: str
    ip: str
    asn: int
    session_id: str
    login_successful: bool
    event_json: str
    # The event's content digest: a repeat of its event id must carry the same.
    event_digest: str
    # The event itself, as event_json holds it (not a column): what the context cache keeps
    # of a commit, without parsing event_json back.
    event: LoginEvent = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IndexedReview:
    """The columns of one review in the index. `ts` is the review's UTC epoch seconds."""

    review_id: str
    decision_id: str
    user_id: str
    ts: float
    outcome: int
    action: int
    original_action: int
    reviewer: str
    reason: str


IndexedEntry = IndexedDecision | IndexedReview


def record_id(entry: IndexedEntry) -> str:
    """The id a record is stored under: the decision's, or the review's."""
    return entry.review_id if isinstance(entry, IndexedReview) else entry.decision_id


@dataclass(frozen=True, slots=True)
class RecordLocation:
    """Where a record lies in the log, and the hash it had when written."""

    segment: str
    seq: int
    offset: int
    length: int
    hash: str


def event_to_json(event: LoginEvent) -> str:
    """Compact JSON of the domain event (enums as numbers); read back by event_from_json."""
    return json.dumps({name: getattr(event, name) for name in _EVENT_FIELDS}, separators=(",", ":"))


def event_from_json(text: str) -> LoginEvent:
    """The event of a history entry, without a protobuf round trip."""
    event = LoginEvent(**json.loads(text))
    event.device_type = DeviceType(event.device_type)
    event.auth_method = AuthMethod(event.auth_method)
    return event


def history_columns_from_json(text: str, action: int, risk: float) -> tuple[Any, ...]:
    """column_row(PastLogin(event_from_json(text), Action(action), risk)), straight from the
    JSON: a user's first GetContext loads about 67 such rows, and building a LoginEvent, its
    enums and a PastLogin for each only to flatten them again took ~40% of that load."""
    try:
        values = [*_EVENT_COLUMNS(json.loads(text)), action, risk]
    except KeyError:  # a row indexed before a field existed: LoginEvent supplies its default
        return column_row(PastLogin(event_from_json(text), Action(action), risk))
    for at in _OPTIONAL_AT:
        if values[at] is None:
            values[at] = math.nan
    return tuple(values)


def indexed_decision(record: common_pb2.DecisionRecord) -> IndexedDecision:
    """The index columns of a (validated) record."""
    decision, event = record.decision, record.event
    domain_event = event_from_proto(event)
    return IndexedDecision(
        decision_id=decision.decision_id,
        event_id=event.event_id or decision.event_id,
        user_id=event.user_id,
        ts=timestamp_to_seconds(event.timestamp),
        action=decision.action,
        risk=decision.risk,
        country=event.country,
        region=event.region,
        device_id=event.device_id,
        ip=event.ip,
        asn=event.asn,
        session_id=event.session_id,
        login_successful=event.login_successful,
        event_json=event_to_json(domain_event),
        event_digest=event_digest(event),
        event=domain_event,
    )


def indexed_review(record: common_pb2.DecisionRecord) -> IndexedReview:
    """The index columns of a reviewer's record."""
    review = record.review
    return IndexedReview(
        review_id=record.decision.decision_id,
        decision_id=review.decision_id,
        user_id=record.event.user_id,
        ts=timestamp_to_seconds(review.reviewed_at),
        outcome=review.outcome,
        action=review.action,
        original_action=review.original_action,
        reviewer=review.reviewer,
        reason=review.reason,
    )


def indexed_entry(record: common_pb2.DecisionRecord) -> IndexedEntry:
    """The index columns of a (validated) record: a review's, or a decision's."""
    return indexed_review(record) if record.HasField("review") else indexed_decision(record)


def indexed_entry_from_json(body: dict[str, Any]) -> IndexedEntry:
    """The index columns of a record read back from the log (its protobuf JSON); raises
    MalformedLine when the JSON is not a DecisionRecord's."""
    try:
        decision = body.get("decision") or {}
        partial = {
            "decision": {k: decision[k] for k in _INDEXED_DECISION_FIELDS if k in decision},
            "event": body.get("event") or {},
            "review": body.get("review"),
        }
        record = json_format.ParseDict(
            {k: v for k, v in partial.items() if v is not None}, common_pb2.DecisionRecord()
        )
        return indexed_entry(record)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise MalformedLine(f"not a decision record: {exc}") from None
