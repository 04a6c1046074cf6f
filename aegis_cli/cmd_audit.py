"""`aegis audit`: verify the log, prove a decision is in it (and check such a proof offline),
replay a decision, export reviewed outcomes as labels; set up and re-index the storage."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import TextIO

import grpc
from google.protobuf import json_format

from aegis.v1 import agent_pb2_grpc, audit_pb2, audit_pb2_grpc
from aegis.v1 import common_pb2 as pb
from aegis_cli.errors import FAILURE, USAGE, CliError
from aegis_cli.output import message_json, print_json, show
from aegis_cli.render import verify_text
from aegis_cli.rpc import (
    OPERATOR,
    ROUTER,
    add_audit_option,
    add_timeout_option,
    call,
    open_channel,
    rpc_failure,
)
from aegis_domain.convert import enum_name
from aegis_domain.registry import Registry, default_registry
from aegis_lab.labels import label_row
from aegis_mesh.cluster import agent_host_of, port_offset
from aegis_runtime.errors import ServiceError
from audit_service.component import make_store
from audit_service.log.proofs import ProofError, check_proof, proof_from_message
from audit_service.log.signing import SigningKeyError, parse_public_key
from audit_service.settings import AuditSettings
from router_service.audit_replay import ReplayResult, replay, running_versions
from router_service.builder import LOAD_ERRORS, build_scorer_on_channels, load_rules
from router_service.client.eventjson import to_json_text
from router_service.settings import RouterSettings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `aegis audit` and its actions; the parsed arguments carry their handler."""
    parser = subparsers.add_parser(
        "audit", help="the audit log: verify, prove, replay, labels, storage",
        description="The audit log. verify, prove, public-key, replay and export-labels ask "
        "the audit service; check-proof needs nothing but the proof and the public key; "
        "init and rebuild-index work on the storage itself, with the audit service's "
        "AEGIS_AUDIT_* settings from the environment.",
    )
    actions = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    verify = actions.add_parser(
        "verify",
        help="check hash chains, signed Merkle roots and the index",
        description="Check the audit log (AuditService.Verify): every writer's hash chain, "
        "every segment against the Merkle roots its signed checkpoints state, and the index. "
        "Prints ok or every problem; exit status 1 when the log is not intact.",
    )
    add_audit_option(verify)
    add_timeout_option(verify, 300.0)
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(handler=run_verify)

    prove = actions.add_parser(
        "prove", help="print an inclusion proof of one decision (JSON)",
        description="Print the proof that the decision is in the log: its record, the audit "
        "path to its segment's Merkle root and the signed checkpoint stating that root. "
        "`aegis audit check-proof` checks it offline.",
    )
    prove.add_argument("decision_id", metavar="DECISION_ID")
    add_audit_option(prove)
    add_timeout_option(prove, 30.0)
    prove.set_defaults(handler=run_prove)

    check = actions.add_parser(
        "check-proof", help="check an inclusion proof offline with the public key",
        description="Check a proof printed by `aegis audit prove`, with nothing but the "
        "checkpoint signer's public key (`aegis audit public-key`). Exit 0 when it proves "
        "the record, 1 when it does not.",
    )
    check.add_argument("proof", type=Path, metavar="FILE", help="the proof (JSON); - for stdin")
    check.add_argument("--public-key", type=Path, required=True, metavar="PEM",
                       help="the Ed25519 public key (PEM, or base64 of its 32 bytes)")
    check.set_defaults(handler=run_check_proof)

    public_key = actions.add_parser(
        "public-key", help="print the public key checkpoints are signed with (PEM)"
    )
    add_audit_option(public_key)
    add_timeout_option(public_key, 10.0)
    public_key.set_defaults(handler=run_public_key)

    replay_parser = actions.add_parser(
        "replay", help="re-run one decision through the agents and the policy",
        description="Re-run the recorded event and context through the agents (at "
        "AEGIS_ROUTER_AGENT_ADDR_TEMPLATE / _AGENT_ADDRS, the local cluster's ports shifted by "
        "AEGIS_CLUSTER_PORT_OFFSET) and the router's combination and "
        "policy. By default at the recorded versions: says which versions differ, and exits "
        "1 unless the result is identical. --current shows what would change now.",
    )
    replay_parser.add_argument("decision_id", metavar="DECISION_ID")
    replay_parser.add_argument("--current", action="store_true",
                               help="replay at the running versions and show the differences")
    replay_parser.add_argument("--policy", type=Path, metavar="FILE",
                               help="policy file (default: AEGIS_ROUTER_POLICY_PATH)")
    replay_parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_audit_option(replay_parser)
    add_timeout_option(replay_parser, 30.0)
    replay_parser.set_defaults(handler=run_replay)

    labels = actions.add_parser(
        "export-labels", help="write reviewed outcomes as training labels (JSONL)",
        description="One JSON line per reviewed decision: the event as recorded, the AI's "
        "decision and the reviewer's verdict (label_action, is_account_takeover).",
    )
    labels.add_argument("--out", type=Path, default=Path("-"), metavar="FILE",
                        help="output file (default: stdout)")
    add_audit_option(labels)
    add_timeout_option(labels, 30.0)
    labels.set_defaults(handler=run_export_labels)

    init = actions.add_parser(
        "init", help="create the S3 bucket and DynamoDB table (AEGIS_AUDIT_* settings)",
        description="Create the bucket (versioning, Object Lock in COMPLIANCE mode, Glacier "
        "lifecycle, no public access, encryption) and the table (keys, GSIs, TTL) from "
        "audit_service.aws.resources, the definitions ecs/ deploys. Leaves what exists.",
    )
    init.set_defaults(handler=run_init)

    rebuild = actions.add_parser(
        "rebuild-index", help="rebuild the whole index from the log (AEGIS_AUDIT_* settings)",
        description="Rebuild the index from the segments of the log: the DynamoDB table "
        "(created when gone) or the embedded SQLite file. With the embedded backend, stop "
        "the audit service first.",
    )
    rebuild.set_defaults(handler=run_rebuild_index)


def run_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the log is intact, 1 when the audit service found problems."""
    reply = call(
        args.audit_addr, "audit",
        lambda channel: audit_pb2_grpc.AuditServiceStub(channel).Verify(
            audit_pb2.VerifyRequest(), timeout=args.timeout
        ),
        caller=OPERATOR,
    )
    show(reply, args.json, verify_text)
    return 0 if reply.ok else FAILURE


def run_prove(args: argparse.Namespace) -> int:
    reply = call(
        args.audit_addr, "audit",
        lambda channel: audit_pb2_grpc.AuditServiceStub(channel).ProveInclusion(
            audit_pb2.ProveInclusionRequest(decision_id=args.decision_id), timeout=args.timeout
        ),
        caller=OPERATOR,
    )
    print(to_json_text(reply.proof, indent=2))
    return 0


def run_check_proof(args: argparse.Namespace) -> int:
    """Exit 0 when the proof holds, 1 when it does not, 2 when a file is unreadable."""
    text = _read(args.proof)
    try:
        message = json_format.Parse(text, audit_pb2.InclusionProof())
        public_key = parse_public_key(_read(args.public_key), str(args.public_key))
    except (json_format.ParseError, SigningKeyError) as exc:
        raise CliError(f"cannot read the proof or the key: {exc}", USAGE) from None
    try:
        line = check_proof(proof_from_message(message), public_key)
    except ProofError as exc:
        print(f"NOT PROVEN: {exc}")
        return FAILURE
    # The record keeps protobuf JSON (ACTION_ALLOW); people see the CLI's spelling (ALLOW).
    action = line.body.get("decision", {}).get("action", "?")
    known = pb.Action.DESCRIPTOR.values_by_name.get(action)
    if known is not None:
        action = enum_name(pb.Action, known.number)
    print(f"proven: decision {line.decision_id} ({action}) is record "
          f"seq {line.seq} of {message.segment}, under a checkpoint signed by this key")
    return 0


def _read(path: Path) -> str:
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", USAGE) from None


def run_public_key(args: argparse.Namespace) -> int:
    reply = call(
        args.audit_addr, "audit",
        lambda channel: audit_pb2_grpc.AuditServiceStub(channel).GetSigningKey(
            audit_pb2.GetSigningKeyRequest(), timeout=args.timeout
        ),
        caller=OPERATOR,
    )
    print(reply.public_key_pem, end="")
    print(f"key id {reply.key_id}", file=sys.stderr)
    return 0


def run_export_labels(args: argparse.Namespace) -> int:
    """Exit 0 once every reviewed decision is written."""

    async def export(out: TextIO) -> int:
        async with open_channel(args.audit_addr, peer="audit", caller=OPERATOR) as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            written, token = 0, ""
            try:
                while True:
                    page = await stub.ListReviews(
                        audit_pb2.ListReviewsRequest(state=audit_pb2.REVIEW_STATE_DECIDED,
                                                     page_token=token),
                        timeout=args.timeout,
                    )
                    for item in page.reviews:
                        found = await stub.GetDecision(
                            audit_pb2.GetDecisionRequest(decision_id=item.decision.decision_id),
                            timeout=args.timeout,
                        )
                        out.write(json.dumps(label_row(item.review, found.record)) + "\n")
                        written += 1
                    token = page.next_page_token
                    if not token:
                        return written
            except grpc.aio.AioRpcError as exc:
                raise rpc_failure(exc, "audit", args.audit_addr, caller=OPERATOR) from None

    if str(args.out) == "-":
        written = asyncio.run(export(sys.stdout))
    else:
        with args.out.open("w") as out:
            written = asyncio.run(export(out))
    print(f"{written} labels written", file=sys.stderr)
    return 0


def run_replay(args: argparse.Namespace) -> int:
    """Exit 0 when the replay at the recorded versions is identical (always, with --current);
    1 when versions differ or the result does."""
    settings = RouterSettings()
    try:
        policy, combiner = load_rules(settings, args.policy)
    except LOAD_ERRORS as exc:
        raise CliError(str(exc), USAGE) from None
    registry = default_registry()

    async def run() -> ReplayResult:
        # The scorer's batch calls trace themselves: no interceptors on these channels.
        hosts = agent_host_of(registry)
        channels = {
            name: open_channel(address, peer=hosts[name].name, caller=ROUTER, intercepted=False)
            for name, address in agent_addresses(settings, registry).items()
        }
        try:
            async with open_channel(
                args.audit_addr, peer="audit", caller=OPERATOR
            ) as audit_channel:
                audit = audit_pb2_grpc.AuditServiceStub(audit_channel)
                try:
                    found = await audit.GetDecision(
                        audit_pb2.GetDecisionRequest(decision_id=args.decision_id),
                        timeout=args.timeout,
                    )
                except grpc.aio.AioRpcError as exc:
                    raise rpc_failure(exc, "audit", args.audit_addr, caller=OPERATOR) from None
                stubs = {name: agent_pb2_grpc.AgentServiceStub(ch)
                         for name, ch in channels.items()}
                scorer = build_scorer_on_channels(
                    settings, registry, policy, audit_channel, channels, combiner
                )
                versions = await running_versions(stubs)
                return await replay(found.record, scorer, versions, current=args.current,
                                    deadline_s=args.timeout)
        finally:
            for channel in channels.values():
                await channel.close()

    result = asyncio.run(run())
    if args.json:
        print_json(replay_json(result))
    else:
        print(replay_text(result))
    if args.current:
        return 0
    return 0 if result.identical and not result.mismatches else FAILURE


def agent_addresses(settings: RouterSettings, registry: Registry) -> dict[str, str]:
    """Each agent where the router would reach it: the router's own settings, with the local
    cluster's ports shifted by AEGIS_CLUSTER_PORT_OFFSET as `aegis cluster up` shifts them
    (an agent host's, AEGIS_CLUSTER_AGENT_HOSTS, for the agents it serves)."""
    hosts = agent_host_of(registry)
    return {e.name: settings.agent_address(e.name, hosts[e.name].port + port_offset())
            for e in registry.agents}


def replay_json(result: ReplayResult) -> dict:
    return {
        "decision_id": result.decision_id,
        "at": "current" if result.current else "recorded",
        "identical": result.identical,
        "version_mismatches": [dataclasses.asdict(m) for m in result.mismatches],
        "differences": [dataclasses.asdict(d) for d in result.differences],
        "replayed": message_json(result.replayed),
    }


def replay_text(result: ReplayResult) -> str:
    at = "the current versions" if result.current else "the recorded versions"
    lines = [f"decision {result.decision_id} replayed at {at}"]
    for m in result.mismatches:
        lines.append(f"  version differs: {m.component}: recorded {m.recorded or '-'}, "
                     f"now {m.current or '-'}")
    if result.mismatches and not result.current:
        lines.append("  the recorded versions are not all running: the result need not be "
                     "identical (use --current to see what would change)")
    if result.identical:
        lines.append("identical: same action, risk, confidence, reasons and signals")
    else:
        lines.append(f"{len(result.differences)} differences (recorded -> replayed):")
        lines += [f"  {d.field}: {d.recorded} -> {d.replayed}" for d in result.differences]
    return "\n".join(lines)


def run_init(args: argparse.Namespace) -> int:
    # Imported here: boto3 comes with the `aws` extra only.
    from botocore.exceptions import BotoCoreError, ClientError

    from audit_service.aws.setup import init_storage

    try:
        done = init_storage(AuditSettings())
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"audit init failed: {exc}") from None
    print("\n".join(done))
    return 0


def run_rebuild_index(args: argparse.Namespace) -> int:
    try:
        store = make_store(AuditSettings())
        count = asyncio.run(store.rebuild_index())
    except ServiceError as exc:
        raise CliError(f"rebuild-index failed: {exc.message}") from None
    except (ValueError, RuntimeError, OSError) as exc:
        raise CliError(f"rebuild-index failed: {exc}") from None
    print(f"index rebuilt from the log: {count} records")
    return 0
