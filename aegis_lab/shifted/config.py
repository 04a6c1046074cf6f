"""A shifted world's size and its own habits, drawn from its seed: how much people share
addresses, travel, change phones; no two worlds of the family share these rates."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Later than any world the training generator's defaults start.
DEFAULT_START = datetime(2025, 3, 3, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Habits:
    """Rates of one world of the family (see `habits`)."""

    logins_per_day: float  # mean per user
    carrier_share: float  # of a phone's logins over the carrier's NAT pool
    employed: float  # share of users behind a company's egress on weekdays
    company_users: int  # users per company egress address
    household: float  # share of users living with another user, sharing a tablet
    typo: float  # chance that a login follows a failed attempt
    # Share of users with each hard case inside the evaluation window.
    travel: float
    new_phone: float
    first_vpn: float
    new_account: float


def habits(seed: int) -> Habits:
    """Rates drawn per world, in ranges around what real services report."""
    rng = random.Random(f"shifted/{seed}/habits")
    return Habits(
        logins_per_day=rng.uniform(0.6, 1.4),
        carrier_share=rng.uniform(0.3, 0.7),
        employed=rng.uniform(0.2, 0.5),
        company_users=rng.randint(40, 300),
        household=rng.uniform(0.1, 0.35),
        typo=rng.uniform(0.02, 0.08),
        travel=rng.uniform(0.03, 0.08),
        new_phone=rng.uniform(0.02, 0.05),
        first_vpn=rng.uniform(0.02, 0.05),
        new_account=rng.uniform(0.03, 0.06),
    )


@dataclass(frozen=True, slots=True)
class ShiftedConfig:
    """`users` people with `history_days` of logins, then `eval_days` in which the hard cases
    and the attacks happen (attacks: `attack_share` of that window's logins)."""

    users: int
    seed: int
    start: datetime = DEFAULT_START
    history_days: int = 21
    eval_days: int = 5
    attack_share: float = 0.06
    habits: Habits = field(init=False)

    def __post_init__(self) -> None:
        if self.users < 10:
            raise ValueError(f"a shifted world needs at least 10 users, not {self.users}")
        if self.history_days < 1 or self.eval_days < 1:
            raise ValueError("history and evaluation windows need at least a day each")
        if not 0 < self.attack_share <= 0.5:
            raise ValueError(f"attack share must be within (0, 0.5], not {self.attack_share}")
        if self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")
        object.__setattr__(self, "habits", habits(self.seed))

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def eval_start_ms(self) -> int:
        return self.start_ms + self.history_days * DAY_MS

    @property
    def days(self) -> int:
        return self.history_days + self.eval_days
