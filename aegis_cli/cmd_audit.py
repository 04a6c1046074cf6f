"""`aegis audit verify`: ask the audit service to check its log; exit 1 when it is not intact."""

from __future__ import annotations

import argparse

from aegis.v1 import audit_pb2, audit_pb2_grpc
from aegis_cli.errors import FAILURE
from aegis_cli.eventjson import to_json_text
from aegis_cli.render import verify_text
from aegis_cli.rpc import add_audit_option, add_timeout_option, call


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `aegis audit verify`; the parsed arguments carry its handler."""
    parser = subparsers.add_parser("audit", help="the audit log", description="The audit log.")
    actions = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="check the hash chains of the log and its agreement with the index",
        description="Check the audit log (AuditService.Verify): hash chains, segments and "
        "index. Prints ok or every problem; exit status 1 when the log is not intact.",
    )
    add_audit_option(verify)
    add_timeout_option(verify, 300.0)
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the log is intact, 1 when the audit service found problems."""
    reply = call(
        args.audit_addr, "audit",
        lambda channel: audit_pb2_grpc.AuditServiceStub(channel).Verify(
            audit_pb2.VerifyRequest(), timeout=args.timeout
        ),
    )
    print(to_json_text(reply, indent=2) if args.json else verify_text(reply))
    return 0 if reply.ok else FAILURE
