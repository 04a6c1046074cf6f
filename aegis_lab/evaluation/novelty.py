"""The naive per-user novelty baseline: how new a login's attributes are to its own user,
weighted by how rare such news is.

No training, no geography, no graph: the floor every agent and the mesh must clear. It reads
only the past events of the context's history and counts of the logins before, so it has no
more than the mesh was given.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
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


class NoveltyBaseline:
    """Per-user novelty weighted by rarity, learnt from the logins seen so far (no labels).

    Each attribute the user's history never had counts by how rarely that attribute changes
    for anyone (a new country says more than a new address), times how rare its value is among
    everyone's logins (the big carrier's ASN, new to this user, is everyday for others).
    Feed it every login in time order through `observe`.
    """

    def __init__(self) -> None:
        self._values: list[Counter[object]] = [Counter() for _ in _ATTRIBUTES]
        self._changes = [0] * len(_ATTRIBUTES)  # logins with history that changed it
        self._compared = 0  # logins with history
        self._logins = 0

    def observe(self, event: LoginEvent, context: LoginContext) -> float:
        """The login's score in [0, 1] (NO_HISTORY without history); then it is counted."""
        past = [p.event for p in context.history]
        values = [attribute(event) for attribute in _ATTRIBUTES]
        new_weight = known_weight = 0.0
        for k, value in enumerate(values):
            if not value or not past:
                continue
            # The surprise of a change of this attribute, add-one smoothed.
            weight = math.log((self._compared + 2) / (self._changes[k] + 1))
            known_weight += weight
            if all(_ATTRIBUTES[k](p) != value for p in past):
                self._changes[k] += 1
                new_weight += weight * (1 - self._values[k][value] / max(self._logins, 1))
        self._compared += bool(past)
        self._logins += 1
        for k, value in enumerate(values):
            self._values[k][value] += 1
        return new_weight / known_weight if known_weight else NO_HISTORY
