"""Who may call which RPC: the one authorisation table, over SPIFFE-style identities.

Every service and every kind of caller has an identity, the URI SAN of its certificate:
spiffe://aegis/router, spiffe://aegis/audit, spiffe://aegis/agent/NAME, spiffe://aegis/client,
spiffe://aegis/ingest (the stream consumer), spiffe://aegis/reviewer/NAME,
spiffe://aegis/operator. Its role is the first segment of the
path; the table grants methods to roles, so a second reviewer needs a certificate, not a rule.
"""

from __future__ import annotations

from enum import StrEnum

TRUST_DOMAIN = "aegis"
_SCHEME = f"spiffe://{TRUST_DOMAIN}/"


class Role(StrEnum):
    ROUTER = "router"
    AUDIT = "audit"
    AGENT = "agent"
    CLIENT = "client"
    # The stream consumer: a client of Score like any other, and nothing more.
    INGEST = "ingest"
    REVIEWER = "reviewer"
    OPERATOR = "operator"


# Roles whose identity names one of several holders (spiffe://aegis/agent/geo).
_NAMED_ROLES = frozenset({Role.AGENT, Role.REVIEWER})

_ROUTER = "/aegis.v1.RouterService/"
_AGENT = "/aegis.v1.AgentService/"
_AUDIT = "/aegis.v1.AuditService/"

# Full gRPC method -> the roles that may call it. A method missing here is refused to all
# (tests/unit/test_authorization.py checks that every RPC of the protos has a row).
AUTHORISED: dict[str, frozenset[Role]] = {
    _ROUTER + "Score": frozenset({Role.CLIENT, Role.INGEST}),
    _ROUTER + "ScoreStream": frozenset({Role.CLIENT, Role.INGEST}),
    _AGENT + "Assess": frozenset({Role.ROUTER}),
    _AGENT + "AssessBatch": frozenset({Role.ROUTER}),
    _AGENT + "AssessStream": frozenset({Role.ROUTER}),
    _AGENT + "AssessHost": frozenset({Role.ROUTER}),
    _AGENT + "Describe": frozenset({Role.ROUTER, Role.OPERATOR}),
    # The audit writes and the context (any user's history) answer the router only: a forged
    # Record would be signed into the log like a real decision.
    _AUDIT + "Record": frozenset({Role.ROUTER}),
    _AUDIT + "RecordBatch": frozenset({Role.ROUTER}),
    _AUDIT + "GetContext": frozenset({Role.ROUTER}),
    _AUDIT + "GetContextBatch": frozenset({Role.ROUTER}),
    _AUDIT + "RecordStream": frozenset({Role.ROUTER}),
    _AUDIT + "GetContextStream": frozenset({Role.ROUTER}),
    _AUDIT + "GetDecision": frozenset({Role.OPERATOR}),
    _AUDIT + "ListDecisions": frozenset({Role.OPERATOR}),
    _AUDIT + "Verify": frozenset({Role.OPERATOR}),
    _AUDIT + "ProveInclusion": frozenset({Role.OPERATOR}),
    _AUDIT + "GetSigningKey": frozenset({Role.OPERATOR}),
    # A reviewer reads the queue and the decision under review before deciding it.
    _AUDIT + "ListReviews": frozenset({Role.REVIEWER, Role.OPERATOR}),
    _AUDIT + "GetReview": frozenset({Role.REVIEWER, Role.OPERATOR}),
    _AUDIT + "DecideReview": frozenset({Role.REVIEWER}),
}

# Health checks (load balancers, the cluster, ECS) and reflection (grpcurl) answer any
# authenticated peer: they reveal no decision.
OPEN_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


def spiffe_id(role: Role, name: str = "") -> str:
    """The identity of a role's holder: spiffe://aegis/ROLE, or .../ROLE/NAME for agents and
    reviewers."""
    if (role in _NAMED_ROLES) != bool(name):
        needs = "need a" if role in _NAMED_ROLES else "take no"
        raise ValueError(f"{role} identities {needs} name")
    return _SCHEME + (f"{role}/{name}" if name else str(role))


def role_of(identity: str) -> Role | None:
    """The role an identity holds; None for one outside the trust domain or malformed."""
    if not identity.startswith(_SCHEME):
        return None
    parts = identity[len(_SCHEME):].split("/")
    try:
        role = Role(parts[0])
    except ValueError:
        return None
    expected_parts = 2 if role in _NAMED_ROLES else 1
    if len(parts) != expected_parts or not all(parts):
        return None
    return role


def may_call(identity: str, method: str) -> bool:
    """Whether the holder of `identity` (already authenticated) may call `method`."""
    role = role_of(identity)
    if role is None:
        return False
    if method.startswith(OPEN_SERVICES):
        return True
    return role in AUTHORISED.get(method, frozenset())
