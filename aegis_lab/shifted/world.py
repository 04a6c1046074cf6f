"""A whole shifted world: every user's logins and the attacks, merged in time order."""

from __future__ import annotations

import random

from aegis_lab.shifted.config import ShiftedConfig
from aegis_lab.shifted.login import Attempt, to_login
from aegis_lab.shifted.people import people, user_logins
from aegis_lab.shifted.tactics import Theatre, attacks
from aegis_lab.world import GeneratedLogin


def generate(config: ShiftedConfig) -> list[GeneratedLogin]:
    """The world's logins in time order (ties in a fixed order); the same for the same config.

    In memory: a family of evaluation worlds is a few thousand users, not a training stream.
    """
    users = people(config)
    own = [user_logins(config, person, index) for index, person in enumerate(users)]
    in_window = {
        person.user_id: [a for a in logins if a.successful and a.at_ms >= config.eval_start_ms]
        for person, logins in zip(users, own, strict=True)
    }
    legit = [a for logins in own for a in logins]
    evaluated = sum(a.at_ms >= config.eval_start_ms for a in legit)
    theatre = Theatre(config, users, in_window, random.Random(f"shifted/{config.seed}/attacks"))
    everything: list[Attempt] = legit + attacks(theatre, round(config.attack_share * evaluated))
    everything.sort(key=lambda a: (a.at_ms, a.user_id, a.ip, a.successful))
    rng = random.Random(f"shifted/{config.seed}/events")
    return [to_login(a, rng) for a in everything]
