"""Attack tactics of the shifted family, all inside the evaluation window; none is one of the
training generator's campaigns (aegis_lab.world.campaigns), though some chase the same goal."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aegis_domain.geo_data import haversine_km
from aegis_lab.shifted.config import DAY_MS, HOUR_MS, ShiftedConfig
from aegis_lab.shifted.login import Attempt
from aegis_lab.shifted.people import Person
from aegis_lab.shifted.places import (
    ALL_LANDS,
    ATTACKER_LANDS,
    DESKTOPS,
    HOME_LANDS,
    HOSTING,
    PHONES,
    TRAVEL_LANDS,
    Browser,
    Land,
    Net,
    Place,
    chrome,
    lookalike,
)
from aegis_lab.world import Truth

COOKIE_REPLAY = "cookie_replay"
LOCAL_LOOKALIKE = "local_lookalike"
SLOW_RING = "slow_ring"
DOMESTIC_PROXY = "domestic_proxy"
FOREIGN_TAKEOVER = "foreign_takeover"
PROXY_STUFFING = "proxy_stuffing"
SLOW_SPRAY = "slow_spray"
_MINUTE_MS = 60_000
# A stolen cookie is replayed from farther than any flight in the minutes since.
_FAR_KM = 3_000.0
_OLD_CHROME = chrome("109.0.5414.120")


@dataclass(slots=True)
class Theatre:
    """What every tactic draws on: the world, its people and their own logins."""

    config: ShiftedConfig
    people: Sequence[Person]
    own: dict[str, list[Attempt]]  # each user's own successful logins in the window
    rng: random.Random
    campaigns: int = 0

    def truth(self, tactic: str) -> Truth:
        self.campaigns += 1
        return Truth(attack=tactic, campaign=f"{tactic}-{self.campaigns}")

    def when(self) -> int:
        """A moment in the evaluation window, leaving a day for the campaign to play out."""
        span = (self.config.eval_days - 1) * DAY_MS
        return self.config.eval_start_ms + self.rng.randrange(max(span, HOUR_MS))

    def victim(self) -> Person:
        return self.rng.choice([p for p in self.people if not p.join_day and self.own[p.user_id]])

    def home_line(self, land: Land, place: Place | None = None) -> tuple[Place, Net, str]:
        """A residential address in `land`: a proxy there, or the attacker's own."""
        isp = self.rng.choice(land.isps)
        return place or self.rng.choice(land.places), isp, isp.address(self.rng.getrandbits(16))


def cookie_replay(t: Theatre) -> list[Attempt]:
    """The victim's session cookie replayed from far away minutes after the victim logged in:
    the victim's own browser, an impossible journey."""
    rng, victim = t.rng, t.victim()
    stolen = rng.choice(t.own[victim.user_id])
    far = [land for land in ATTACKER_LANDS + TRAVEL_LANDS
           if haversine_km(stolen.place.latitude, stolen.place.longitude,
                           land.places[0].latitude, land.places[0].longitude) > _FAR_KM]
    if not far:
        return []
    place, net, ip = t.home_line(rng.choice(far))
    at, truth = stolen.at_ms + rng.randint(2, 20) * _MINUTE_MS, t.truth(COOKIE_REPLAY)
    return [Attempt(at + k * rng.randint(1, 10) * _MINUTE_MS, victim.user_id, stolen.browser,
                    place, net, ip, True, truth) for k in range(rng.randint(1, 2))]


def local_lookalike(t: Theatre) -> list[Attempt]:
    """An attacker on the victim's own ISP, in the victim's city, with the victim's browser one
    build away, at the victim's hours: only the address and the build tell."""
    rng, victim = t.rng, t.victim()
    truth, browser = t.truth(LOCAL_LOOKALIKE), lookalike(victim.browsers[-1])
    day = (t.when() - t.config.start_ms) // DAY_MS
    attempts = []
    for _ in range(rng.randint(1, 3)):
        local_h = rng.gauss(victim.peak_h, 1.0) % 24
        at = t.config.start_ms + day * DAY_MS + int((local_h - victim.land.utc_offset_h) * HOUR_MS)
        ip = victim.isp.address(rng.getrandbits(16))
        attempts.append(Attempt(at, victim.user_id, browser, victim.place, victim.isp, ip, True,
                                truth))
        day = min(day + 1, t.config.days - 1)
    return attempts


def slow_ring(t: Theatre) -> list[Attempt]:
    """A ring working through many accounts over days with two or three devices and a few home
    addresses in one country, a failure now and then."""
    rng, truth = t.rng, t.truth(SLOW_RING)
    land = rng.choice(HOME_LANDS)
    browsers = rng.sample(DESKTOPS + PHONES, rng.randint(2, 3))
    lines = [t.home_line(land) for _ in range(rng.randint(2, 4))]
    attempts = []
    for _ in range(rng.randint(8, 20)):
        victim, at = t.victim(), t.when()
        browser, (place, net, ip) = rng.choice(browsers), rng.choice(lines)
        if rng.random() < 0.3:
            attempts.append(Attempt(at, victim.user_id, browser, place, net, ip, False, truth))
            at += rng.randint(1, 10) * _MINUTE_MS
        attempts.append(Attempt(at, victim.user_id, browser, place, net, ip, True, truth))
    return attempts


def domestic_proxy(t: Theatre) -> list[Attempt]:
    """Phished credentials used through a residential proxy in the victim's own country, from a
    browser the victim does not use."""
    rng, victim = t.rng, t.victim()
    truth = t.truth(DOMESTIC_PROXY)
    place, net, ip = t.home_line(victim.land)
    browser = rng.choice([b for b in DESKTOPS + PHONES if b not in victim.browsers])
    at = t.when()
    attempts = []
    if rng.random() < 0.4:
        attempts.append(Attempt(at, victim.user_id, browser, place, net, ip, False, truth))
        at += rng.randint(1, 5) * _MINUTE_MS
    attempts.append(Attempt(at, victim.user_id, browser, place, net, ip, True, truth))
    return attempts


def foreign_takeover(t: Theatre) -> list[Attempt]:
    """A takeover from abroad on a new device, a revisit or two later."""
    rng, victim = t.rng, t.victim()
    truth = t.truth(FOREIGN_TAKEOVER)
    land = rng.choice(ATTACKER_LANDS)
    place, net, ip = (land.places[0], land.carrier, land.carrier.address(rng.getrandbits(5))) \
        if rng.random() < 0.3 else t.home_line(land)
    browser, at = rng.choice(DESKTOPS + PHONES), t.when()
    attempts = [Attempt(at + k * _MINUTE_MS, victim.user_id, browser, place, net, ip, False, truth)
                for k in range(rng.choice((0, 1, 2)))]
    at += len(attempts) * _MINUTE_MS
    for k in range(rng.randint(1, 2)):
        attempts.append(Attempt(at + k * rng.randint(2, 20) * HOUR_MS, victim.user_id, browser,
                                place, net, ip, True, truth))
    return attempts


def proxy_stuffing(t: Theatre) -> list[Attempt]:
    """A leaked list through a worldwide residential proxy pool: a new address per attempt,
    one old browser string, most accounts wrong, nearly every password wrong."""
    rng, truth = t.rng, t.truth(PROXY_STUFFING)
    at, attempts = t.when(), []
    for _ in range(rng.randint(20, 40)):
        at += rng.randint(1_000, 20_000)
        real = rng.random() < 0.6
        user = t.victim().user_id if real else str(rng.randrange(-(2**63), 2**63))
        place, net, ip = t.home_line(rng.choice(ALL_LANDS))
        attempts.append(Attempt(at, user, _OLD_CHROME, place, net, ip,
                                real and rng.random() < 0.03, truth))
    return attempts


def slow_spray(t: Theatre) -> list[Attempt]:
    """One password tried on account after account, minutes apart, from a few rented servers
    in no list, with current browser strings."""
    rng, truth = t.rng, t.truth(SLOW_SPRAY)
    servers = [rng.choice(HOSTING) for _ in range(rng.randint(2, 5))]
    lines = [(s.place, s, s.address(rng.getrandbits(10))) for s in servers]
    at, attempts = t.when(), []
    for _ in range(rng.randint(15, 30)):
        at += rng.randint(1, 10) * _MINUTE_MS
        place, net, ip = rng.choice(lines)
        browser: Browser = rng.choice(DESKTOPS)
        attempts.append(Attempt(at, t.victim().user_id, browser, place, net, ip,
                                rng.random() < 0.01, truth))
    return attempts


TACTICS: dict[str, Callable[[Theatre], list[Attempt]]] = {
    COOKIE_REPLAY: cookie_replay,
    LOCAL_LOOKALIKE: local_lookalike,
    SLOW_RING: slow_ring,
    DOMESTIC_PROXY: domestic_proxy,
    FOREIGN_TAKEOVER: foreign_takeover,
    PROXY_STUFFING: proxy_stuffing,
    SLOW_SPRAY: slow_spray,
}


def attacks(t: Theatre, budget: int) -> list[Attempt]:
    """About `budget` attempts, shared alike between the tactics (at least one campaign each)."""
    attempts: list[Attempt] = []
    for tactic in TACTICS.values():
        spent = 0
        while spent < max(1, budget // len(TACTICS)):
            campaign = tactic(t)
            spent += max(1, len(campaign))
            attempts += campaign
    return attempts
