"""`aegis agent NAME`: one Assess (or Describe) on one agent, bypassing the router."""

from __future__ import annotations

import argparse

from aegis.v1 import agent_pb2, agent_pb2_grpc
from aegis.v1 import common_pb2 as pb
from aegis_cli.event_input import (
    add_event_options,
    event_from_args,
    load_message,
    refuse_invalid,
)
from aegis_cli.output import show
from aegis_cli.render import describe_text, signal_text
from aegis_cli.rpc import OPERATOR, ROUTER, add_timeout_option, call
from aegis_domain.registry import default_registry
from aegis_mesh.cluster import agent_host_of, local_address
from aegis_runtime.lanes import AGENT_HEADER


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this command to `aegis`; the parsed arguments carry its handler."""
    registry = default_registry()
    parser = subparsers.add_parser(
        "agent",
        help="ask one agent directly (Assess or --describe)",
        description="Assess one login on one agent, with an optional context (history and "
        "neighbourhood) that the router would otherwise gather from the audit service; "
        "or describe the agent. The address is 127.0.0.1 and the agent's registry port, or "
        "that of its agent host (AEGIS_CLUSTER_AGENT_HOSTS), shifted by "
        "AEGIS_CLUSTER_PORT_OFFSET as the local cluster's, unless --addr is given.",
    )
    parser.add_argument("name", choices=registry.names, metavar="NAME",
                        help=f"the agent: {', '.join(registry.names)}")
    parser.add_argument("--describe", action="store_true",
                        help="print the agent's model version, state and features instead")
    parser.add_argument("--addr", metavar="HOST:PORT", help="the agent's address")
    parser.add_argument("--context-file", metavar="PATH",
                        help="LoginContext in protobuf JSON (default: empty context)")
    add_event_options(parser)
    add_timeout_option(parser, 5.0)
    parser.add_argument("--json", action="store_true", help="print the reply as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Describe the agent, or Assess the event after the router's own checks."""
    # An agent host (AEGIS_CLUSTER_AGENT_HOSTS) listens on its first agent's port and presents
    # that one's certificate; the metadata names the agent asked.
    host = agent_host_of(default_registry())[args.name]
    address = args.addr or local_address(host.port)
    named = ((AGENT_HEADER, args.name),)
    service = f"agent {args.name}"
    if args.describe:
        described = call(
            address, service,
            lambda channel: agent_pb2_grpc.AgentServiceStub(channel).Describe(
                agent_pb2.DescribeRequest(), timeout=args.timeout, metadata=named
            ),
            caller=OPERATOR, peer=host.name,
        )
        show(described, args.json, describe_text)
        return 0
    context = pb.LoginContext()
    if args.context_file is not None:
        load_message(args.context_file, context)
    event = event_from_args(args)
    refuse_invalid(event)
    request = agent_pb2.AssessRequest(event=event, context=context)
    assessed = call(
        address, service,
        lambda channel: agent_pb2_grpc.AgentServiceStub(channel).Assess(
            request, timeout=args.timeout, metadata=named
        ),
        caller=ROUTER, peer=host.name,
    )
    show(assessed.signal, args.json, signal_text)
    return 0
