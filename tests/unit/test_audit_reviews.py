"""Review verdicts are checked field by field; reviewed outcomes become training labels."""

from __future__ import annotations

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_domain.types import Action
from aegis_lab.labels import label_of, label_row
from aegis_runtime.errors import InvalidArgument
from audit_service.reviews import Verdict, resulting_action, review_record, validate_verdict
from tests.unit.audit_builders import make_record

REASON = "called the customer: travelling, confirmed the new phone"


def verdict(**changes) -> Verdict:
    return Verdict(**({"decision_id": "d-1", "outcome": pb.REVIEW_OUTCOME_APPROVE, "action": 0,
                       "reviewer": "ana@soc", "reason": REASON} | changes))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "too short"}, "reason"),
        ({"reason": "          x          "}, "reason"),
        ({"reason": "x" * 4_001}, "reason"),
        ({"reviewer": ""}, "reviewer"),
        ({"reviewer": "ana\n"}, "reviewer"),
        ({"outcome": 0}, "outcome"),
        ({"outcome": 9}, "outcome"),
        ({"action": pb.ACTION_BLOCK_PERMANENT}, "action"),
        ({"outcome": pb.REVIEW_OUTCOME_MODIFY}, "action"),
        ({"outcome": pb.REVIEW_OUTCOME_MODIFY, "action": pb.ACTION_ESCALATE}, "action"),
        ({"outcome": pb.REVIEW_OUTCOME_MODIFY, "action": 42}, "action"),
        ({"decision_id": " "}, "decision_id"),
        ({"review_id": "bad\nid"}, "review_id"),
    ],
)
def test_bad_verdicts_name_the_field(changes: dict, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_verdict(verdict(**changes))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("outcome", "action", "expected"),
    [
        (pb.REVIEW_OUTCOME_APPROVE, 0, Action.ALLOW),
        (pb.REVIEW_OUTCOME_REJECT, 0, Action.BLOCK_TEMPORARY),
        (pb.REVIEW_OUTCOME_MODIFY, pb.ACTION_ACCOUNT_TERMINATION, Action.ACCOUNT_TERMINATION),
        (pb.REVIEW_OUTCOME_MODIFY, pb.ACTION_CHALLENGE, Action.CHALLENGE),
    ],
)
def test_each_outcome_has_its_action(outcome: int, action: int, expected: Action) -> None:
    validate_verdict(verdict(outcome=outcome, action=action))
    assert resulting_action(verdict(outcome=outcome, action=action)) is expected


def test_a_review_record_links_the_decision_and_labels_its_event() -> None:
    reviewed = make_record("d-1", action=pb.ACTION_ESCALATE, risk=0.6)
    reviewed.decision.model_versions["geo"] = "geo-1"
    record = review_record(
        reviewed, verdict(outcome=pb.REVIEW_OUTCOME_MODIFY, action=pb.ACTION_BLOCK_PERMANENT),
        "r-1", 1_717_243_200.0,
    )
    assert record.decision.decision_id == record.review.review_id == "r-1"
    assert (record.review.decision_id, record.review.original_action) == ("d-1",
                                                                          pb.ACTION_ESCALATE)
    assert record.decision.action == record.review.action == pb.ACTION_BLOCK_PERMANENT
    assert record.event == reviewed.event and not record.HasField("context")
    assert label_of(record.review) == (Action.BLOCK_PERMANENT, True)
    row = label_row(record.review, reviewed)
    assert row["event"]["user_id"] == "alice" and row["model_versions"] == {"geo": "geo-1"}
    assert (row["ai_action"], row["label_action"], row["is_account_takeover"]) == (
        "ACTION_ESCALATE", "ACTION_BLOCK_PERMANENT", True
    )
    assert row["reviewed_at"] == "2024-06-01T12:00:00Z" and row["reason"] == REASON
