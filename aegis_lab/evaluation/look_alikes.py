"""Refused legitimate logins beside the attacks that share their facts.

A legitimate login the policy refuses is friction; whether it can be let through is a
question about the attacks: if the logins with the same served facts (a country new to the
user, the user's own browser string, an impossible journey through a network seen from one
country) are mostly attacks, no model that reads those facts can allow the one without the
many. `look_alikes` groups logins by a handful of such facts, read from the detection
agent's own features, and counts, for each group that holds a refused legitimate login,
the legitimate logins (refused, by hard case) and the attacks (let through, by type).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from agent_services.detection_features import FEATURE_NAMES
from agent_services.geo import GeoSettings

_COLUMN = {name: index for index, name in enumerate(FEATURE_NAMES)}
# The geo agent's default limit: faster than this, net of location uncertainty, is no journey.
_MAX_SPEED_KMH = float(GeoSettings.model_fields["max_speed_kmh"].default)


def _value(vector: Sequence[float], name: str) -> float:
    return vector[_COLUMN[name]]


def _is(name: str, test: Callable[[float], bool]) -> Callable[[Sequence[float]], bool]:
    """A fact that holds when the feature is known and passes `test`."""
    return lambda vector: not math.isnan(_value(vector, name)) and test(_value(vector, name))


@dataclass(frozen=True, slots=True)
class Fact:
    words: str
    holds: Callable[[Sequence[float]], bool]


FACTS = (
    Fact("the user has history", _is("own_logins", lambda v: v > 0)),
    Fact("a country new to the user", _is("country_share", lambda v: v == 0)),
    Fact("a network new to the user", _is("asn_share", lambda v: v == 0)),
    Fact("the user's own browser string", _is("user_agent_share", lambda v: v > 0)),
    Fact("an impossible journey", _is("speed_kmh", lambda v: v > _MAX_SPEED_KMH)),
    Fact("a network seen from one country at most", _is("asn_countries", lambda v: v <= 1)),
    Fact("the right password", _is("login_successful", lambda v: v > 0)),
)

Signature = tuple[bool, ...]


def signature(vector: Sequence[float]) -> Signature:
    """Which of FACTS hold for a login's detection features."""
    return tuple(fact.holds(vector) for fact in FACTS)


@dataclass(slots=True)
class Group:
    """The logins of one signature: legitimate ones (refused, by hard case) and attacks
    (let through, by type)."""

    legitimate: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    let_through: Counter[str] = field(default_factory=Counter)
    attack_types: Counter[str] = field(default_factory=Counter)

    @property
    def attacks(self) -> int:
        return self.attack_types.total()


def look_alikes(vectors: Iterable[Sequence[float]], attacks: Iterable[str],
                hard_cases: Iterable[str], allowed: Iterable[bool]) -> dict[Signature, Group]:
    """The groups that hold at least one refused legitimate login, most refused first."""
    groups: dict[Signature, Group] = {}
    for vector, attack, case, was_allowed in zip(vectors, attacks, hard_cases, allowed,
                                                 strict=True):
        group = groups.setdefault(signature(vector), Group())
        if attack:
            group.attack_types[attack] += 1
            if was_allowed:
                group.let_through[attack] += 1
        else:
            group.legitimate += 1
            if not was_allowed:
                group.refused[case or "no hard case"] += 1
    kept = [(key, group) for key, group in groups.items() if group.refused]
    kept.sort(key=lambda item: -item[1].refused.total())
    return dict(kept)


def render(groups: dict[Signature, Group]) -> list[str]:
    """Two lines a group: its facts, then its legitimate logins and its attacks."""
    lines = []
    for key, group in groups.items():
        facts = [fact.words for fact, holds in zip(FACTS, key, strict=True) if holds]
        lines.append("  " + (", ".join(facts) or "none of the facts"))
        refused = ", ".join(f"{case} {n}" for case, n in group.refused.most_common())
        attacks = ", ".join(f"{kind} {n}" for kind, n in group.attack_types.most_common())
        lines.append(f"    legitimate {group.legitimate}, refused {group.refused.total()} "
                     f"({refused}); attacks {group.attacks}"
                     f"{' (' + attacks + ')' if attacks else ''}, let through "
                     f"{group.let_through.total()}")
    return lines
