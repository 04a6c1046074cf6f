"""Checks on audit requests at the service edge; every rejection names the field."""

from __future__ import annotations

from aegis.v1 import audit_pb2, common_pb2
from aegis_domain.types import HUMAN_ONLY, Action
from aegis_domain.validation import MAX_ID_LENGTH, TimeWindow, validate_event
from aegis_runtime.errors import InvalidArgument

# The router bounds event times; the log accepts any it accepted, replays of old data too.
_ANY_TIME = TimeWindow(earliest=0.0, latest=253_402_300_799.0)  # up to 9999-12-31


def validate_record_request(request: audit_pb2.RecordRequest) -> None:
    """A record must name its decision, carry a known action and a valid event."""
    if not request.HasField("record"):
        raise InvalidArgument("record", "is required")
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
    if decision.action not in common_pb2.Action.values():
        raise InvalidArgument("record.decision.action", f"unknown value {decision.action}")
    if Action(decision.action).name in HUMAN_ONLY:
        raise InvalidArgument(
            "record.decision.action",
            f"{Action(decision.action).name} is a human-only action: only DecideReview takes it",
        )
    if request.record.HasField("review"):
        raise InvalidArgument("record.review", "reviews are recorded through DecideReview")
    if not request.record.HasField("event"):
        raise InvalidArgument("record.event", "is required")
    validate_event(request.record.event, _ANY_TIME, prefix="record.event")


def validate_context_request(request: audit_pb2.GetContextRequest) -> None:
    if not request.user_id.strip():
        raise InvalidArgument("user_id", "is required")
    if not request.HasField("as_of"):
        raise InvalidArgument("as_of", "is required")


def validate_decision_request(request: audit_pb2.GetDecisionRequest) -> None:
    validate_record_id("decision_id", request.decision_id)


def validate_record_id(field: str, value: str) -> None:
    if not value.strip():
        raise InvalidArgument(field, "is required")


def validate_list_request(request: audit_pb2.ListDecisionsRequest) -> None:
    if request.action not in common_pb2.Action.values():
        raise InvalidArgument("action", f"unknown value {request.action}")
    if (
        request.HasField("since")
        and request.HasField("until")
        and (request.until.seconds, request.until.nanos)
        < (request.since.seconds, request.since.nanos)
    ):
        raise InvalidArgument("until", "is before since")


def validate_list_reviews_request(request: audit_pb2.ListReviewsRequest) -> None:
    if request.state not in audit_pb2.ReviewState.values():
        raise InvalidArgument("state", f"unknown value {request.state}")
