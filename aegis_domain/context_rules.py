"""The rules of a context (GetContext), the contract every implementation keeps.

A login's context is a function of the log strictly before its timestamp (`as_of`):
- history: every login of the user (failed ones too; agents choose what they trust) in
  [as_of - history_max_age_s, as_of), newest first, at most history_limit, each with its
  recorded action and risk; history_truncated when a bound cut;
- links: the login's device, IP and ASN (an empty key or ASN 0 links to nobody);
- neighbours: per link, the other users among its newest scan_limit logins in
  [as_of - neighbor_window_s, as_of), most recently seen first, at most neighbor_limit listed,
  all of them counted; listed device, then IP, then ASN; and the distinct (non-empty)
  countries of those logins, every user's, over the ASN (asn_countries);
- velocity: attempts, failures and distinct users per user, IP and device among the newest
  scan_limit logins in [as_of - velocity_window_s, as_of).

Implementations: the embedded index (audit_service/embedded/index.py), the DynamoDB index
(audit_service/aws/index.py) and the offline builder (aegis_lab/contexts.py) answer whole
contexts and pass one suite (tests/service/test_audit_contract_context.py); the GNN's
training sampler (aegis_lab/graph/sampler.py) reproduces the neighbourhoods and is compared
with the embedded store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aegis_domain.types import Action, LinkKind, LoginContext, Neighbor, PastLogin, Velocity


@dataclass(frozen=True, slots=True)
class ContextBounds:
    """Every bound of GetContext; each keeps one call's cost bounded whatever the data."""

    history_limit: int
    history_max_age_s: float
    neighbor_limit: int
    neighbor_window_s: float
    velocity_window_s: int
    scan_limit: int


@dataclass(frozen=True, slots=True)
class ContextWindows:
    """The half-open windows [since, as_of) of one GetContext.

    Everything ends strictly before `as_of` (the event's timestamp), so that a replay of
    historical logins sees exactly what a live system saw.
    """

    as_of: float
    history_since: float
    neighbor_since: float
    velocity_since: float

    @classmethod
    def ending_at(cls, as_of: float, bounds: ContextBounds) -> ContextWindows:
        return cls(
            as_of=as_of,
            history_since=as_of - bounds.history_max_age_s,
            neighbor_since=as_of - bounds.neighbor_window_s,
            velocity_since=as_of - bounds.velocity_window_s,
        )


@dataclass(frozen=True, slots=True)
class LinkNeighbors:
    """Neighbours over one link: the listed (bounded) ones, how many distinct users
    other than the user in question the link has in the window, and how many distinct
    countries its logins in the window came from (the user's own too)."""

    neighbors: list[Neighbor]
    total_users: int
    countries: int = 0


NO_NEIGHBORS = LinkNeighbors(neighbors=[], total_users=0)


def distinct_countries(countries: Iterable[str]) -> int:
    """How many countries a link's logins came from; a login without one counts for none."""
    return len(set(countries) - {""})


def links(device_id: str, ip: str, asn: int) -> list[tuple[LinkKind, str | int]]:
    """The links a login has: an empty device / IP or ASN 0 links to nobody."""
    candidates: list[tuple[LinkKind, str | int]] = [
        (LinkKind.DEVICE, device_id),
        (LinkKind.IP, ip),
        (LinkKind.ASN, asn),
    ]
    return [(kind, key) for kind, key in candidates if key]


def history_cut(newest_first: Sequence[float], windows: ContextWindows,
                bounds: ContextBounds) -> tuple[int, bool]:
    """How many of the fetched logins to keep, and whether the history was cut.

    `newest_first` are the timestamps of up to history_limit + 1 logins before as_of, newest
    first and not yet filtered by age: one extra row shows whether the count bound cut, and
    rows older than the age bound show that it did.
    """
    keep = 0
    for ts in newest_first[: bounds.history_limit]:
        if ts < windows.history_since:
            break
        keep += 1
    return keep, keep < len(newest_first)


def assemble_context(
    history: Sequence[PastLogin],
    history_truncated: bool,
    by_link: dict[LinkKind, LinkNeighbors],
    velocity: Velocity,
) -> LoginContext:
    """The LoginContext of one login; neighbours listed device, then IP, then ASN."""
    device = by_link.get(LinkKind.DEVICE, NO_NEIGHBORS)
    ip = by_link.get(LinkKind.IP, NO_NEIGHBORS)
    asn = by_link.get(LinkKind.ASN, NO_NEIGHBORS)
    return LoginContext(
        history=history,
        neighbors=[*device.neighbors, *ip.neighbors, *asn.neighbors],
        velocity=velocity,
        device_users=device.total_users,
        ip_users=ip.total_users,
        asn_users=asn.total_users,
        history_truncated=history_truncated,
        asn_countries=asn.countries,
    )


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One login as a link scan reads it (a backend without SQL aggregates these itself)."""

    user_id: str
    ts: float
    login_successful: bool
    action: int
    risk: float
    country: str = ""


def link_neighbors(
    kind: LinkKind, rows: Sequence[LinkRow], user_id: str, bounds: ContextBounds
) -> LinkNeighbors:
    """Neighbours over one link from its scanned rows (the newest scan_limit in the window):
    per other user, most recently seen first (ties by user id)."""
    by_user: dict[str, list[LinkRow]] = {}
    for row in rows:
        if row.user_id != user_id:
            by_user.setdefault(row.user_id, []).append(row)
    neighbors = [
        Neighbor(
            link=kind,
            user_id=other,
            logins=len(seen),
            failures=sum(not r.login_successful for r in seen),
            flagged=sum(r.action != Action.ALLOW for r in seen),
            max_risk=max(r.risk for r in seen),
            last_seen=max(r.ts for r in seen),
        )
        for other, seen in by_user.items()
    ]
    neighbors.sort(key=lambda n: (-n.last_seen, n.user_id))
    return LinkNeighbors(
        neighbors=neighbors[: bounds.neighbor_limit], total_users=len(by_user),
        countries=distinct_countries(row.country for row in rows),
    )


def window_counts(rows: Sequence[LinkRow]) -> tuple[int, int, int]:
    """(attempts, failures, distinct users) of the scanned rows of one velocity window."""
    return (
        len(rows),
        sum(not r.login_successful for r in rows),
        len({r.user_id for r in rows}),
    )
