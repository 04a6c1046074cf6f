"""`aegis score`: one login through RouterService.Score, and the decision it got."""

from __future__ import annotations

import argparse

from aegis.v1 import router_pb2, router_pb2_grpc
from aegis_cli.event_input import add_event_options, event_from_args, refuse_invalid
from aegis_cli.output import show
from aegis_cli.render import decision_text
from aegis_cli.rpc import CLIENT, add_router_option, add_timeout_option, call


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this command to `aegis`; the parsed arguments carry its handler."""
    parser = subparsers.add_parser(
        "score",
        help="score one login through the router and print the decision",
        description="Score one login. The event comes from --json-file and/or flags. An "
        "event the router would refuse (a field too long, a bad address...) is refused before "
        "it is sent, and one the router refuses is reported, naming the offending field "
        "(exit status 2).",
    )
    add_event_options(parser)
    add_router_option(parser)
    add_timeout_option(parser, 5.0)
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 with a decision; INVALID_ARGUMENT exits 2 naming the field."""
    event = event_from_args(args)
    refuse_invalid(event)
    request = router_pb2.ScoreRequest(event=event)
    reply = call(
        args.router, "router",
        lambda channel: router_pb2_grpc.RouterServiceStub(channel).Score(
            request, timeout=args.timeout
        ),
        caller=CLIENT,
    )
    show(reply.decision, args.json, decision_text)
    return 0
