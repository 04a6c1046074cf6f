"""`aegis review list|show|decide`: the human review of escalated decisions."""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid

import grpc

from aegis.v1 import audit_pb2, audit_pb2_grpc
from aegis.v1 import common_pb2 as pb
from aegis_cli.output import message_json, print_json, show
from aegis_cli.render import decision_text
from aegis_cli.rpc import (
    REVIEWER,
    add_audit_option,
    add_timeout_option,
    call,
    open_channel,
    rpc_failure,
)
from aegis_domain.convert import enum_name
from aegis_runtime.tls import TlsSettings
from audit_service.reviews import MIN_REASON_CHARS

REVIEWER_ENV = "AEGIS_REVIEWER"
OUTCOMES = {
    "approve": pb.REVIEW_OUTCOME_APPROVE,
    "reject": pb.REVIEW_OUTCOME_REJECT,
    "modify": pb.REVIEW_OUTCOME_MODIFY,
}
# What MODIFY may do: any action but ESCALATE; the human-only ones only here.
MODIFY_ACTIONS = {
    name.removeprefix("ACTION_").lower(): value
    for name, value in pb.Action.items()
    if value not in (pb.ACTION_UNSPECIFIED, pb.ACTION_ESCALATE)
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `aegis review` and its actions; the parsed arguments carry their handler."""
    parser = subparsers.add_parser(
        "review", help="human review: list, show, decide",
        description="Escalated decisions wait for a reviewer, who approves (ALLOW), rejects "
        "(BLOCK_TEMPORARY) or modifies (any action, BLOCK_PERMANENT and ACCOUNT_TERMINATION "
        "included: only a human takes those) with a reason. The verdict is a new audited "
        "record linked to the decision, which never changes.",
    )
    actions = parser.add_subparsers(dest="review_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="the queue (oldest first), or --decided")
    listing.add_argument("--decided", action="store_true",
                         help="reviewed decisions, latest review first")
    listing.add_argument("--limit", type=int, default=50, metavar="N",
                         help="at most N rows (default %(default)s)")
    listing.add_argument("--json", action="store_true", help="print the rows as one JSON array")
    add_audit_option(listing)
    add_timeout_option(listing, 10.0)
    listing.set_defaults(handler=run_list)

    show = actions.add_parser("show", help="one decision, its event and its review")
    show.add_argument("decision_id", metavar="DECISION_ID")
    show.add_argument("--json", action="store_true", help="print as JSON")
    add_audit_option(show)
    add_timeout_option(show, 10.0)
    show.set_defaults(handler=run_show)

    decide = actions.add_parser(
        "decide", help="record a verdict",
        description=f"Record a verdict on a decision. The reason is mandatory (at least "
        f"{MIN_REASON_CHARS} characters) and kept in the audit log with the reviewer's name.",
    )
    decide.add_argument("decision_id", metavar="DECISION_ID")
    decide.add_argument("--outcome", choices=OUTCOMES, required=True)
    decide.add_argument("--action", choices=MODIFY_ACTIONS,
                        help="with --outcome modify: the action to take")
    decide.add_argument("--reason", required=True, help="why (kept in the audit log)")
    decide.add_argument(
        "--reviewer", default=os.environ.get(REVIEWER_ENV, ""),
        required=REVIEWER_ENV not in os.environ and not TlsSettings().configured,
        help=f"who decides (env {REVIEWER_ENV}); with AEGIS_TLS_* the audit service records "
        "the identity of the reviewer's certificate instead",
    )
    decide.add_argument("--review-id", default="", metavar="ID",
                        help="makes a retry record the verdict once (default: a new id)")
    decide.add_argument("--json", action="store_true", help="print the review as JSON")
    add_audit_option(decide)
    add_timeout_option(decide, 10.0)
    decide.set_defaults(handler=run_decide)


def run_list(args: argparse.Namespace) -> int:
    state = audit_pb2.REVIEW_STATE_DECIDED if args.decided else audit_pb2.REVIEW_STATE_PENDING

    async def fetch() -> list[audit_pb2.ReviewItem]:
        items: list[audit_pb2.ReviewItem] = []
        token = ""
        async with open_channel(args.audit_addr, peer="audit", caller=REVIEWER) as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            try:
                while len(items) < args.limit:
                    page = await stub.ListReviews(
                        audit_pb2.ListReviewsRequest(
                            state=state, page_size=min(args.limit - len(items), 1000),
                            page_token=token,
                        ),
                        timeout=args.timeout,
                    )
                    items += page.reviews
                    token = page.next_page_token
                    if not token:
                        break
            except grpc.aio.AioRpcError as exc:
                raise rpc_failure(exc, "audit", args.audit_addr, caller=REVIEWER) from None
        return items

    items = asyncio.run(fetch())
    if args.json:
        print_json([message_json(item) for item in items])
        return 0
    for item in items:
        print(review_line(item))
    if not items:
        print("no decided reviews" if args.decided else "the review queue is empty")
    return 0


def review_line(item: audit_pb2.ReviewItem) -> str:
    d = item.decision
    line = (f"{d.decision_id}  {d.event_time.ToJsonString()}  user {d.user_id}  "
            f"{enum_name(pb.Action, d.action)}  risk {d.risk:.3f}  "
            f"{d.country or '-'}")
    if item.state == audit_pb2.REVIEW_STATE_DECIDED:
        r = item.review
        line += (f"  -> {enum_name(pb.ReviewOutcome, r.outcome)} "
                 f"{enum_name(pb.Action, r.action)} by {r.reviewer}: "
                 f"{r.reason}")
    return line


def run_show(args: argparse.Namespace) -> int:
    reply = call(
        args.audit_addr, "audit",
        lambda channel: audit_pb2_grpc.AuditServiceStub(channel).GetReview(
            audit_pb2.GetReviewRequest(decision_id=args.decision_id), timeout=args.timeout
        ),
        caller=REVIEWER,
    )
    if args.json:
        print_json(message_json(reply))
        return 0
    event = reply.record.event
    print(decision_text(reply.record.decision))
    print(f"event {event.event_id}  {event.timestamp.ToJsonString()}  user {event.user_id}  "
          f"ip {event.ip}  {event.country}/{event.region}/{event.city}  asn {event.asn}  "
          f"device {event.device_id}  success {event.login_successful}")
    if reply.item.state == audit_pb2.REVIEW_STATE_DECIDED:
        print(f"review {reply.item.review.review_id}  audit {reply.item.review_audit_ref}")
    print(review_line(reply.item))
    return 0


def run_decide(args: argparse.Namespace) -> int:
    """Exit 0 once recorded; 2 when the audit service refuses the verdict (it names the
    field), 1 for a decision that is unknown or reviewed already."""
    request = audit_pb2.DecideReviewRequest(
        decision_id=args.decision_id,
        outcome=OUTCOMES[args.outcome],
        action=MODIFY_ACTIONS[args.action] if args.action else pb.ACTION_UNSPECIFIED,
        reviewer=args.reviewer,
        reason=args.reason,
        review_id=args.review_id or uuid.uuid4().hex,
    )
    reply = call(
        args.audit_addr, "audit",
        lambda channel: audit_pb2_grpc.AuditServiceStub(channel).DecideReview(
            request, timeout=args.timeout
        ),
        caller=REVIEWER,
    )
    show(reply, args.json, decided_text)
    return 0


def decided_text(reply: audit_pb2.DecideReviewResponse) -> str:
    review = reply.review
    return (f"recorded review {review.review_id}: {enum_name(pb.ReviewOutcome, review.outcome)} "
            f"-> {enum_name(pb.Action, review.action)} "
            f"(was {enum_name(pb.Action, review.original_action)})"
            f"{' (already recorded)' if reply.duplicate else ''}; audit {reply.audit_ref}")
