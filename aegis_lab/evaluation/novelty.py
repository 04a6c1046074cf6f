"""The naive per-user novelty baseline: how new a login's attributes are to its own user.

No training, no geography, no graph: the floor every agent and the mesh must clear. It reads
only the past events of the context's history, so it has no more than the mesh was given.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from aegis_domain.types import LoginContext, LoginEvent

# A first login has nothing to be new against: neither usual nor unusual.
NO_HISTORY = 0.5


def ip_prefix(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) a login came from: one provider's neighbourhood, so that a
    new address in the usual network is not news."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


_ATTRIBUTES: tuple[Callable[[LoginEvent], object], ...] = (
    lambda e: ip_prefix(e.ip) if e.ip else "",
    lambda e: e.asn,
    lambda e: e.country,
    lambda e: e.city,
    lambda e: e.user_agent,
    lambda e: e.device_id,
)


def novelty(event: LoginEvent, context: LoginContext) -> float:
    """The share of the login's known attributes (IP prefix, ASN, country, city, user agent,
    device id) that its user's history never had; NO_HISTORY for a first login."""
    if not context.history:
        return NO_HISTORY
    known = [attribute for attribute in _ATTRIBUTES if attribute(event)]
    if not known:
        return NO_HISTORY
    past = [p.event for p in context.history]
    new = sum(all(attribute(p) != attribute(event) for p in past) for attribute in known)
    return new / len(known)
