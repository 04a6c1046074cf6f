"""Training labels from human reviews: what the reviewer decided the login was."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from aegis.v1 import common_pb2
from aegis_domain.types import Action

# The actions that say "this login is an account takeover"; a CHALLENGE or an ALLOW does not.
TAKEOVER_ACTIONS = frozenset({
    Action.BLOCK_TEMPORARY, Action.BLOCK_PERMANENT, Action.ACCOUNT_TERMINATION
})


def label_of(review: common_pb2.Review) -> tuple[Action, bool]:
    """The reviewed outcome as a label: the resulting action, and whether it is a takeover."""
    action = Action(review.action)
    return action, action in TAKEOVER_ACTIONS


def label_row(review: common_pb2.Review, reviewed: common_pb2.DecisionRecord) -> dict[str, Any]:
    """One JSON line of `aegis audit export-labels`: the event (raw facts, as recorded), the
    AI's decision and the human's verdict. The context is left out: it is rebuilt from the
    log when training, like at scoring time."""
    action, takeover = label_of(review)
    decision = reviewed.decision
    return {
        "decision_id": review.decision_id,
        "review_id": review.review_id,
        "event": json_format.MessageToDict(reviewed.event, preserving_proto_field_name=True),
        "ai_action": common_pb2.Action.Name(decision.action),
        "ai_risk": decision.risk,
        "policy_version": decision.policy_version,
        "model_versions": dict(decision.model_versions),
        "outcome": common_pb2.ReviewOutcome.Name(review.outcome),
        "label_action": common_pb2.Action.Name(int(action)),
        "is_account_takeover": takeover,
        "reviewer": review.reviewer,
        "reason": review.reason,
        "reviewed_at": json_format.MessageToDict(review)["reviewedAt"],
    }
