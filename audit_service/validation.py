"""Checks on audit requests at the service edge; every rejection names the field."""

from __future__ import annotations

from aegis.v1 import audit_pb2, common_pb2
from aegis_domain.types import HUMAN_ONLY, Action
from aegis_domain.validation import (
    MAX_ID_LENGTH,
    MAX_TIMESTAMP_SECONDS,
    TimeWindow,
    enum_known,
    ip_problem,
    text_problem,
    timestamp_problem,
    validate_event,
)
from aegis_runtime.errors import InvalidArgument

# The router bounds event times; the log accepts any it accepted, replays of old data too.
_ANY_TIME = TimeWindow(earliest=0.0, latest=float(MAX_TIMESTAMP_SECONDS))
# One record, context and all. A full context (history_limit past logins of bounded fields,
# the neighbourhood) is some tens of KiB; the bound keeps any record far below gRPC's 4 MiB
# message limit, so that a batch of them can always be split to fit.
MAX_RECORD_BYTES = 512 * 1024


def validate_record_request(request: audit_pb2.RecordRequest) -> None:
    """A record must name its decision, carry a known action and a valid event."""
    if not request.HasField("record"):
        raise InvalidArgument("record", "is required")
    # Fields this build does not know would be stored (and hashed) unread: a way to inflate
    # the log and every later context of the user with bytes nobody checked.
    request.record.DiscardUnknownFields()
    size = request.record.ByteSize()
    if size > MAX_RECORD_BYTES:
        raise InvalidArgument("record", f"is {size} bytes; at most {MAX_RECORD_BYTES}")
    decision = request.record.decision
    decision_id = decision.decision_id
    if not decision_id.strip():
        raise InvalidArgument("record.decision.decision_id", "is required")
    if len(decision_id) > MAX_ID_LENGTH:
        raise InvalidArgument(
            "record.decision.decision_id",
            f"is {len(decision_id)} characters long; at most {MAX_ID_LENGTH}",
        )
    if not decision_id.isprintable():
        raise InvalidArgument("record.decision.decision_id", "contains control characters")
    if decision.action == common_pb2.ACTION_UNSPECIFIED:
        raise InvalidArgument("record.decision.action", "is required")
    if not enum_known(common_pb2.Action, decision.action):
        raise InvalidArgument("record.decision.action", f"unknown value {decision.action}")
    if Action(decision.action).name in HUMAN_ONLY:
        raise InvalidArgument(
            "record.decision.action",
            f"{Action(decision.action).name} is a human-only action: only DecideReview takes it",
        )
    problem = timestamp_problem(decision.decided_at)
    if problem:
        raise InvalidArgument("record.decision.decided_at", problem)
    if request.record.HasField("review"):
        raise InvalidArgument("record.review", "reviews are recorded through DecideReview")
    if not request.record.HasField("event"):
        raise InvalidArgument("record.event", "is required")
    if request.context_ref and request.record.HasField("context"):
        # Two contexts for one decision: which one it was made with is not the log's guess.
        raise InvalidArgument("context_ref", "is set with record.context; send one of them")
    validate_event(request.record.event, _ANY_TIME, prefix="record.event")


def validate_context_request(request: audit_pb2.GetContextRequest) -> None:
    if not request.user_id.strip():
        raise InvalidArgument("user_id", "is required")
    for name in ("user_id", "device_id", "event_id", "event_digest"):
        problem = text_problem(getattr(request, name), MAX_ID_LENGTH)
        if problem:
            raise InvalidArgument(name, problem)
    problem = ip_problem(request.ip) if request.ip else ""
    if problem:
        raise InvalidArgument("ip", problem)
    if not request.HasField("as_of"):
        raise InvalidArgument("as_of", "is required")
    problem = timestamp_problem(request.as_of)
    if problem:
        raise InvalidArgument("as_of", problem)


def validate_decision_request(request: audit_pb2.GetDecisionRequest) -> None:
    validate_record_id("decision_id", request.decision_id)


def validate_record_id(field: str, value: str) -> None:
    if not value.strip():
        raise InvalidArgument(field, "is required")


def validate_list_request(request: audit_pb2.ListDecisionsRequest) -> None:
    if not enum_known(common_pb2.Action, request.action):
        raise InvalidArgument("action", f"unknown value {request.action}")
    for name in ("since", "until"):
        problem = timestamp_problem(getattr(request, name))
        if problem:
            raise InvalidArgument(name, problem)
    if (
        request.HasField("since")
        and request.HasField("until")
        and (request.until.seconds, request.until.nanos)
        < (request.since.seconds, request.since.nanos)
    ):
        raise InvalidArgument("until", "is before since")


def validate_list_reviews_request(request: audit_pb2.ListReviewsRequest) -> None:
    if not enum_known(audit_pb2.ReviewState, request.state):
        raise InvalidArgument("state", f"unknown value {request.state}")
