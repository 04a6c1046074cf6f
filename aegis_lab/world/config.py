"""What to generate: size, time span, seed, and the share and mix of attacks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from aegis_lab.world.knobs import Knobs
from aegis_lab.world.truth import (
    ATTACK_TYPES,
    CREDENTIAL_STUFFING,
    FRAUD_RING,
    LOW_AND_SLOW,
    PASSWORD_SPRAY,
    SESSION_HIJACK,
    TARGETED_TAKEOVER,
)

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# Share of the attack events spent on each attack type.
DEFAULT_ATTACK_MIX: Mapping[str, float] = MappingProxyType({
    CREDENTIAL_STUFFING: 0.35,
    PASSWORD_SPRAY: 0.20,
    TARGETED_TAKEOVER: 0.13,
    SESSION_HIJACK: 0.10,
    FRAUD_RING: 0.12,
    LOW_AND_SLOW: 0.10,
})


def parse_attack_mix(text: str) -> dict[str, float]:
    """"credential_stuffing=0.5,low_and_slow=0.5" -> a mix; ValueError names the bad part."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"attack mix: {part!r} is not TYPE=SHARE")
        try:
            mix[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"attack mix: {value!r} is not a number") from None
    return mix


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """A world: `users` people, `events` logins in all over about `days` from `start`.

    attack_share: fraction of the events that are attacks; attack_mix: how that share splits
    between attack types (normalised; types left out get none). randomised: people's habits
    and sharing drawn per seed rather than the defaults (see `knobs`).
    """

    users: int
    events: int
    seed: int
    start: datetime = DEFAULT_START
    days: float = 30.0
    attack_share: float = 0.03
    attack_mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ATTACK_MIX))
    randomised: bool = False

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"users must be >= 1, not {self.users}")
        if self.events < 0:
            raise ValueError(f"events must be >= 0, not {self.events}")
        if not self.days > 0:
            raise ValueError(f"days must be > 0, not {self.days}")
        if not 0 <= self.attack_share <= 0.5:
            raise ValueError(f"attack share must be within [0, 0.5], not {self.attack_share}")
        if self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")
        unknown = sorted(set(self.attack_mix) - set(ATTACK_TYPES))
        if unknown:
            raise ValueError(
                f"attack mix: unknown attack types {', '.join(unknown)} "
                f"(known: {', '.join(ATTACK_TYPES)})"
            )
        if any(share < 0 for share in self.attack_mix.values()):
            raise ValueError("attack mix: shares must be >= 0")
        if self.attack_share > 0 and not sum(self.attack_mix.values()) > 0:
            raise ValueError("attack mix: at least one attack type needs a share > 0")

    @property
    def knobs(self) -> Knobs:
        """The defaults; when `randomised`, the world's own draw from its seed (domain
        randomisation: each training world's habits and sharing differ)."""
        return Knobs.drawn(self.seed) if self.randomised else Knobs()

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def span_ms(self) -> int:
        return int(self.days * DAY_MS)

    def attack_events(self, attack: str) -> float:
        """How many of the events (per span of `days`) go to one attack type."""
        total = sum(self.attack_mix.values())
        share = self.attack_mix.get(attack, 0.0) / total if total else 0.0
        return self.events * self.attack_share * share
