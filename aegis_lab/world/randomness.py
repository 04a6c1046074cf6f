"""Seeded draws shared by people and campaigns: ids, counts, waiting times."""

from __future__ import annotations

import math
import random


def hex_id(rng: random.Random) -> str:
    """A 64-bit id in hex, as device fingerprints and session ids look."""
    return f"{rng.getrandbits(64):016x}"


def user_id(seed: int, index: int) -> str:
    """The id of user `index`: signed 64-bit like the RBA dataset's, so both formats carry it."""
    return str(random.Random(f"{seed}/user-id/{index}").randrange(-(2**63), 2**63))


def stranger_id(rng: random.Random) -> str:
    """The id of an account that does not exist (or not in this world): stuffing lists hold many."""
    return str(rng.randrange(-(2**63), 2**63))


def round_trip_ms(rng: random.Random) -> float | None:
    """A measured round-trip time, for the few logins that measure one (as in RBA's data)."""
    if rng.random() < 0.05:
        return float(round(rng.lognormvariate(math.log(400), 0.5)))
    return None


def geometric(rng: random.Random, p: float) -> int:
    """Days until the next active day (>= 1) when each day is active with chance p."""
    if p >= 1:
        return 1
    return 1 + int(math.log(1 - rng.random()) / math.log1p(-p))


def positive_poisson(rng: random.Random, mean: float) -> int:
    """A Poisson count given that it is at least one (the day is active)."""
    if mean > 30:
        return max(1, round(rng.gauss(mean, math.sqrt(mean))))
    target = rng.random() * -math.expm1(-mean)
    k, term = 1, mean * math.exp(-mean)
    total = term
    while total < target and k < 200:
        k += 1
        term *= mean / k
        total += term
    return k

