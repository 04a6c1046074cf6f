"""Reasons of the network agent: which shared device, IP or ASN, and its risky users."""

from __future__ import annotations

from aegis_domain.types import LoginContext, LoginEvent, Neighbor, Reason
from agent_services.network.context_graph import LINK_INDEX, login_keys, other_users

CODES = ("SHARED_DEVICE", "SHARED_IP", "SHARED_ASN")
_LABELS = ("device", "IP", "ASN")
# Enough names for an analyst to start from; the full list is in the audit record's context.
MAX_NAMED_NEIGHBOURS = 3


def shared_key_reason(kind: int, event: LoginEvent, context: LoginContext, weight: float) -> Reason:
    """The reason for key type `kind` (KEY_TYPES order) of this login, e.g. SHARED_DEVICE
    "device d-123 used by 7 other users, 3 flagged, 5 with failed logins; riskiest: ...".
    Flags are the audit log's past decisions on those users: shown to people, never an input
    of the model (training has no decisions to learn them from)."""
    listed = [n for n in context.neighbors if LINK_INDEX[n.link] == kind]
    total = other_users(context)[kind]
    flagged = sum(1 for n in listed if n.flagged)
    failing = sum(1 for n in listed if n.failures)
    counts = f"{flagged} flagged, {failing} with failed logins"
    users = f"{total} other user{'s' if total != 1 else ''}"
    if len(listed) < total:
        summary = f"used by {users} ({len(listed)} listed: {counts})"
    else:
        summary = f"used by {users}, {counts}"
    message = f"{_LABELS[kind]} {login_keys(event)[kind]} {summary}"
    risky = sorted(
        (n for n in listed if n.flagged or n.failures),
        key=lambda n: (-n.flagged, -n.max_risk, -n.failures / max(n.logins, 1), n.user_id),
    )[:MAX_NAMED_NEIGHBOURS]
    if risky:
        message += "; riskiest: " + ", ".join(_describe(n) for n in risky)
    return Reason(code=CODES[kind], message=message, weight=weight)


def _describe(neighbour: Neighbor) -> str:
    return (
        f"user {neighbour.user_id} ({neighbour.flagged} flagged, "
        f"{neighbour.failures} of {neighbour.logins} logins failed)"
    )
