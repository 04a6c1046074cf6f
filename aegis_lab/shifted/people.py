"""The users of a shifted world and their own logins, hard cases labelled: trips, new phones,
first VPN logins, new accounts, a family tablet, and the addresses they share with many
others (the carrier's NAT pool, the company's egress)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from aegis_lab.shifted.config import DAY_MS, HOUR_MS, ShiftedConfig
from aegis_lab.shifted.login import Attempt
from aegis_lab.shifted.places import (
    DESKTOPS,
    HOME_LANDS,
    NEW_PHONES,
    PHONES,
    TABLETS,
    TRAVEL_LANDS,
    VPN_EXITS,
    Browser,
    Land,
    Net,
    Place,
)
from aegis_lab.world import Truth
from aegis_lab.world.truth import NEW_ACCOUNT, NEW_DEVICE, SHARED_DEVICE, TRAVEL, VPN

# Legitimate logins on shared infrastructure: hard cases of this family only.
CARRIER_NAT = "carrier_nat"
CORPORATE_EGRESS = "corporate_egress"
# Logins that still count as the hard case after it starts.
FIRST_LOGINS = 5
_LAND_WEIGHTS = (0.3, 0.2, 0.25, 0.15, 0.1)


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    land: Land
    place: Place
    isp: Net
    home_ip: str
    browsers: tuple[Browser, ...]  # the everyday one first
    tablet: Browser | None  # shared with the household
    work_ip: str | None
    peak_h: float
    rate: float
    join_day: int
    trip: tuple[int, int, Land] | None  # first day, last day, where
    new_phone_day: int | None
    vpn_day: int | None


def people(config: ShiftedConfig) -> list[Person]:
    """Every user; users 2k and 2k+1 share a home (and its tablet) when they form a household."""
    h = config.habits
    users: list[Person] = []
    for index in range(config.users):
        rng = random.Random(f"shifted/{config.seed}/person/{index}")
        partner = users[index - 1] if index % 2 else None
        pair = random.Random(f"shifted/{config.seed}/household/{index // 2}")
        shares_home = pair.random() < h.household and partner is not None
        if shares_home and partner is not None:
            land, place, isp, home_ip = partner.land, partner.place, partner.isp, partner.home_ip
            tablet = partner.tablet
        else:
            land = rng.choices(HOME_LANDS, weights=_LAND_WEIGHTS)[0]
            place, isp = rng.choice(land.places), rng.choice(land.isps)
            home_ip = isp.address(rng.getrandbits(16))
            tablet = rng.choice(TABLETS) if pair.random() < h.household else None
        browsers = [rng.choice(PHONES)] if rng.random() < 0.85 else []
        if not browsers or rng.random() < 0.6:
            browsers.append(rng.choice(DESKTOPS))
        companies = max(1, config.users // h.company_users)
        work_ip = (land.offices.address(2 * rng.randrange(companies))
                   if rng.random() < h.employed else None)
        window = (config.history_days, config.days)
        trip_day = rng.randrange(*window)
        users.append(Person(
            user_id=str(rng.randrange(-(2**63), 2**63)), land=land, place=place, isp=isp,
            home_ip=home_ip, browsers=tuple(browsers), tablet=tablet, work_ip=work_ip,
            peak_h=rng.uniform(7, 22), rate=h.logins_per_day * rng.lognormvariate(-0.18, 0.6),
            join_day=rng.randrange(*window) if rng.random() < h.new_account else 0,
            trip=(trip_day, trip_day + rng.randint(2, 6),
                  rng.choice([t for t in TRAVEL_LANDS + HOME_LANDS if t != land]))
            if rng.random() < h.travel else None,
            new_phone_day=rng.randrange(*window) if rng.random() < h.new_phone else None,
            vpn_day=rng.randrange(*window) if rng.random() < h.first_vpn else None,
        ))
    return users


class _Day:
    """One user's logins, with what changes over time (their phone, how many of each hard
    case so far)."""

    def __init__(self, config: ShiftedConfig, person: Person, index: int) -> None:
        self.config, self.person = config, person
        self.rng = random.Random(f"shifted/{config.seed}/logins/{index}")
        self.seen: dict[str, int] = {}

    def first(self, case: str) -> bool:
        self.seen[case] = self.seen.get(case, 0) + 1
        return self.seen[case] <= FIRST_LOGINS

    def logins(self) -> list[Attempt]:
        p, rng, h = self.person, self.rng, self.config.habits
        attempts: list[Attempt] = []
        for day in range(p.join_day, self.config.days):
            count = _poisson(rng, p.rate)
            for _ in range(count):
                local_h = rng.gauss(p.peak_h, 2.0) % 24
                at = self.config.start_ms + day * DAY_MS + int((local_h - p.land.utc_offset_h)
                                                               * HOUR_MS)
                login = self._one(at, day, local_h)
                if rng.random() < h.typo:
                    attempts.append(Attempt(at - rng.randint(5_000, 60_000), p.user_id,
                                            login.browser, login.place, login.net, login.ip,
                                            False, login.truth))
                attempts.append(login)
        return attempts

    def _one(self, at: int, day: int, local_h: float) -> Attempt:
        p, rng, h = self.person, self.rng, self.config.habits
        phone = next((b for b in p.browsers if b in PHONES), None)
        new_phone = p.new_phone_day is not None and day >= p.new_phone_day
        if new_phone:
            phone = NEW_PHONES[int(p.user_id) % len(NEW_PHONES)]
        browser = phone if phone and rng.random() < 0.6 else p.browsers[-1]
        case = ""
        place, net, ip = p.place, p.isp, p.home_ip
        travelling = p.trip is not None and p.trip[0] <= day <= p.trip[1]
        if travelling and p.trip is not None:
            land = p.trip[2]
            browser = phone or browser
            place = rng.choice(land.places)
            net = land.carrier if rng.random() < 0.4 else land.isps[0]
            ip, case = net.address(rng.getrandbits(12)), TRAVEL
        elif p.vpn_day is not None and day >= p.vpn_day and rng.random() < 0.6:
            net = VPN_EXITS[int(p.user_id) % len(VPN_EXITS)]
            place, ip = net.place, net.address(rng.getrandbits(6))
            case = VPN if self.first(VPN) else ""
        elif p.tablet is not None and rng.random() < 0.2:
            browser, case = p.tablet, SHARED_DEVICE
        elif p.work_ip and browser not in PHONES and day % 7 < 5 and 9 <= local_h <= 17:
            net, ip, case = p.land.offices, p.work_ip, CORPORATE_EGRESS
        elif browser in PHONES + NEW_PHONES and rng.random() < h.carrier_share:
            net = p.land.carrier
            ip, case = net.address(rng.getrandbits(5)), CARRIER_NAT
        if browser == phone and new_phone and self.first(NEW_DEVICE):
            case = NEW_DEVICE
        if p.join_day and self.first(NEW_ACCOUNT):
            case = NEW_ACCOUNT
        return Attempt(at, p.user_id, browser, place, net, ip, True, Truth(hard_case=case))


def user_logins(config: ShiftedConfig, person: Person, index: int) -> list[Attempt]:
    """All of one user's own logins (and their typos) over the whole world."""
    return _Day(config, person, index).logins()


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
