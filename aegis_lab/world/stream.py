"""The world as one stream: every user's logins and every campaign merged lazily by time."""

from __future__ import annotations

import heapq
import itertools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter

from aegis.v1 import common_pb2 as pb
from aegis_lab.world.campaigns import launches
from aegis_lab.world.config import WorldConfig
from aegis_lab.world.draft import Draft, to_event
from aegis_lab.world.people import user_logins
from aegis_lab.world.truth import Truth


@dataclass(frozen=True, slots=True)
class GeneratedLogin:
    """One login and its ground truth, which is never part of the event."""

    event: pb.LoginEvent
    truth: Truth


def generate(config: WorldConfig) -> Iterator[GeneratedLogin]:
    """Exactly `config.events` logins in time order (ties in a fixed order).

    Memory holds one stream per user and the campaigns under way, never the events: a
    world of any length streams in the memory its population needs.
    """
    if config.events == 0:
        return
    streams = [user_logins(config, index) for index in range(config.users)]
    streams.append(attacks(config))
    merged = heapq.merge(*streams, key=attrgetter("at_ms"))
    bare_share = config.knobs.bare_share
    for number, draft in enumerate(itertools.islice(merged, config.events)):
        bare = bare_share > 0 and _bare(config.seed, draft.user_id, bare_share)
        yield GeneratedLogin(to_event(draft, f"gen{config.seed}-{number}", bare), draft.truth)


def _bare(seed: int, user_id: str, share: float) -> bool:
    """Whether the user's logins (the attacks on them too) carry the RBA columns only: a
    draw per user, so that one history is all bare or all full."""
    return zlib.crc32(f"{seed}/bare/{user_id}".encode()) < share * 2**32


def attacks(config: WorldConfig) -> Iterator[Draft]:
    """Every attack attempt in time order. A campaign is opened only when it is due, so
    memory holds the campaigns under way, not all of them."""
    due: list[tuple[int, int, Draft, Iterator[Draft]]] = []
    upcoming = launches(config)
    following_launch = next(upcoming, None)
    opened = 0
    while due or following_launch is not None:
        # A campaign's first attempt is at or after its launch: one launched after the
        # earliest attempt due cannot come before it.
        while following_launch is not None and (not due or following_launch[0] <= due[0][0]):
            campaign = following_launch[1]
            first = next(campaign, None)
            if first is not None:
                heapq.heappush(due, (first.at_ms, opened, first, campaign))
                opened += 1
            following_launch = next(upcoming, None)
        if not due:
            continue
        _, order, draft, campaign = heapq.heappop(due)
        yield draft
        following = next(campaign, None)
        if following is not None:
            heapq.heappush(due, (following.at_ms, order, following, campaign))
