"""`aegis`: score logins, replay files, ask agents, verify the audit log, generate logins,
run the local cluster, train the models and evaluate them."""

from __future__ import annotations

import argparse
import os
import sys

from aegis_cli import (
    cmd_agent,
    cmd_audit,
    cmd_cluster,
    cmd_evaluate,
    cmd_generate,
    cmd_replay,
    cmd_review,
    cmd_score,
    cmd_stream,
    cmd_top,
    cmd_train,
)
from aegis_cli.errors import BROKEN_PIPE, INTERRUPTED, USAGE, CliError
from aegis_cli.output import print_json
from aegis_cli.rpc import AUDIT_ADDR_ENV, ROUTER_ADDR_ENV
from aegis_mesh.cluster import PORT_OFFSET_ENV, ClusterError

COMMANDS = (
    cmd_score, cmd_replay, cmd_agent, cmd_audit, cmd_review, cmd_generate, cmd_cluster,
    cmd_top, cmd_train, cmd_evaluate, cmd_stream,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each command module adds its own subparser."""
    parser = argparse.ArgumentParser(
        prog="aegis",
        description="AegisAI command line: account-takeover defence, one Score call at a time.",
        epilog=f"Addresses: {ROUTER_ADDR_ENV} (router), {AUDIT_ADDR_ENV} (audit); without them "
        f"the local cluster's, whose every port (router, audit, agents) {PORT_OFFSET_ENV} "
        "shifts, as it shifts `aegis cluster`'s (e.g. 1000 for a second cluster). "
        "Exit status: 0 ok, 1 failed, 2 bad arguments or input, 130 interrupted, 141 output "
        "cut short (e.g. by `| head`). "
        "`aegis COMMAND --help` for each command.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (see the epilog of --help)."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (`aegis ... | head`): the rest was not wanted. Python would
        # complain again when it flushes stdout at exit, so stdout goes to /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE


def _run(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
    except ClusterError as exc:
        # The default addresses follow the port offset: a bad one is bad input, not a crash.
        print(f"aegis: error: {exc}", file=sys.stderr)
        return USAGE
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
        sys.stdout.flush()
    except CliError as exc:
        print(f"aegis: error: {exc.message}", file=sys.stderr)
        if getattr(args, "json", False):
            # A script asked for JSON: it gets a document on failure too.
            print_json({"error": exc.message, "exit_status": exc.exit_code, **exc.details})
        return exc.exit_code
    except KeyboardInterrupt:
        print("aegis: interrupted", file=sys.stderr)
        return INTERRUPTED
    return status
