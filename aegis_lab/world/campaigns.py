"""Attack campaigns, each a stream of attempts in time order with its ground truth."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator

from aegis.v1 import common_pb2 as pb
from aegis_domain.geo_data import haversine_km
from aegis_lab.world.clients import near_copy
from aegis_lab.world.config import DAY_MS, HOUR_MS, WorldConfig
from aegis_lab.world.draft import Draft
from aegis_lab.world.people import Device, Profile, profile, user_logins
from aegis_lab.world.places import (
    ATTACKER_COUNTRIES,
    BOT_CLIENTS,
    BY_CODE,
    COUNTRIES,
    DESKTOP_CLIENTS,
    HOMES,
    HOSTING,
    MOBILE_CLIENTS,
    VPN_EXITS,
    City,
    Country,
    Network,
    unlisted_vpn,
)
from aegis_lab.world.randomness import hex_id, round_trip_ms, stranger_id, user_id
from aegis_lab.world.truth import (
    ATTACK_TYPES,
    BULK_ATTACKS,
    CREDENTIAL_STUFFING,
    FRAUD_RING,
    LOW_AND_SLOW,
    PASSWORD_SPRAY,
    SESSION_HIJACK,
    TARGETED_TAKEOVER,
    Truth,
)

_MINUTE_MS = 60_000
# Attempts of one campaign on average: how many campaigns an attack budget pays for (bulk
# campaigns then share the budget exactly; the others have the size their story gives them).
_MEAN_ATTEMPTS = {
    CREDENTIAL_STUFFING: 150.0,
    PASSWORD_SPRAY: 200.0,
    TARGETED_TAKEOVER: 3.0,
    SESSION_HIJACK: 2.0,
    FRAUD_RING: 12.0,
    LOW_AND_SLOW: 6.5,
}
_STUFFING_REAL_TARGETS = 0.6
_STUFFING_SUCCESS = 0.02
_SPRAY_REAL_TARGETS = 0.9
_SPRAY_SUCCESS = 0.01
# How far away a stolen session is used: far enough that no flight gets there in time.
_HIJACK_MIN_KM = 2500.0

Place = tuple[City, Network, str]


class _Campaign:
    """What every campaign has: its seeded random source, its truth, its world."""

    def __init__(self, config: WorldConfig, attack: str, number: int) -> None:
        self.config = config
        self.rng = random.Random(f"{config.seed}/{attack}/{number}")
        self.truth = Truth(attack=attack, campaign=f"{attack}-{number}")
        self.unlisted_vpn = unlisted_vpn(config.seed) if config.knobs.unlisted_vpn_rate else ()

    def attempt(
        self, at: int, user: str, device: Device, place: Place, successful: bool,
        failed_before: int = 0, auth: pb.AuthMethod.ValueType = pb.AUTH_METHOD_PASSWORD,
    ) -> Draft:
        city, network, ip = place
        return Draft(
            at_ms=at, user_id=user, device_id=device.device_id, client=device.client, city=city,
            network=network, ip=ip, successful=successful, auth_method=auth,
            session_id=hex_id(self.rng), truth=self.truth, failed_before=failed_before,
            round_trip_ms=round_trip_ms(self.rng),
        )

    def victim(self, at: int) -> Profile:
        """A user whose account existed when the attack starts."""
        rng = self.rng
        for _ in range(8):
            person = profile(self.config, rng.randrange(self.config.users))
            if self.config.start_ms + person.join_day * DAY_MS < at:
                break
        return person

    def target(self, real_share: float) -> tuple[str, bool]:
        """An account from an attacker's list, and whether it exists."""
        rng = self.rng
        if rng.random() < real_share:
            return user_id(self.config.seed, rng.randrange(self.config.users)), True
        return stranger_id(rng), False

    def residential(self, country: Country, city: City | None = None) -> Place:
        """A home connection in `country`: a residential proxy, or the attacker's own."""
        rng = self.rng
        network = rng.choice(country.residential)
        return city or rng.choice(country.cities), network, network.address(rng.getrandbits(24))

    def server(self, network: Network) -> Place:
        return network.city, network, network.address(self.rng.getrandbits(16))


def credential_stuffing(config: WorldConfig, number: int, at: int, size: int) -> Iterator[Draft]:
    """A leaked list replayed fast by a tool: rented servers or a residential proxy pool,
    bot or spoofed user agents, a fresh fingerprint per attempt, nearly all failing."""
    c = _Campaign(config, CREDENTIAL_STUFFING, number)
    rng = c.rng
    servers = [c.server(rng.choice(HOSTING)) for _ in range(rng.randint(1, 4))]
    proxies = rng.random() < 0.5
    client = rng.choice(BOT_CLIENTS) if rng.random() < 0.6 else rng.choice(DESKTOP_CLIENTS)
    for _ in range(size):
        at += rng.randint(300, 15_000)
        user, real = c.target(_STUFFING_REAL_TARGETS)
        place = c.residential(rng.choice(COUNTRIES)) if proxies else rng.choice(servers)
        got_in = real and rng.random() < _STUFFING_SUCCESS
        yield c.attempt(at, user, Device(hex_id(rng), client), place, got_in)


def password_spray(config: WorldConfig, number: int, at: int, size: int) -> Iterator[Draft]:
    """A few common passwords tried once per account, slowly, rotating through VPN exits
    and servers with ordinary browser user agents."""
    c = _Campaign(config, PASSWORD_SPRAY, number)
    rng = c.rng
    exits = HOSTING + VPN_EXITS + c.unlisted_vpn
    pool = [c.server(rng.choice(exits)) for _ in range(rng.randint(20, 150))]
    clients = rng.sample(DESKTOP_CLIENTS, 3)
    for _ in range(size):
        at += rng.randint(5_000, 120_000)
        device = Device(hex_id(rng), rng.choice(clients))
        user, real = c.target(_SPRAY_REAL_TARGETS)
        success = real and rng.random() < _SPRAY_SUCCESS
        yield c.attempt(at, user, device, rng.choice(pool), success)


def targeted_takeover(config: WorldConfig, number: int, at: int, size: int) -> Iterator[Draft]:
    """Phished credentials used by one person: a new device, often from the victim's own
    country, a failure or two, then in; a few more visits over the next days."""
    c = _Campaign(config, TARGETED_TAKEOVER, number)
    rng = c.rng
    victim = c.victim(at)
    home = victim.home.country
    country = home if rng.random() < 0.7 else rng.choice(ATTACKER_COUNTRIES)
    channel = rng.random()
    if channel < 0.5:
        place = c.residential(country)
    elif channel < 0.8:
        carrier = country.mobile
        place = (rng.choice(country.cities), carrier, carrier.address(rng.getrandbits(8)))
    else:
        place = c.server(rng.choice(HOSTING + VPN_EXITS + c.unlisted_vpn))
    device = Device(hex_id(rng), rng.choice(DESKTOP_CLIENTS + MOBILE_CLIENTS))
    failures = rng.choice((0, 0, 1, 1, 2))
    for _ in range(failures):
        yield c.attempt(at, victim.user_id, device, place, False)
        at += rng.randint(10_000, 120_000)
    yield c.attempt(at, victim.user_id, device, place, True, failures)
    for _ in range(rng.choice((0, 0, 1, 2, 3))):
        at += rng.randint(HOUR_MS, 48 * HOUR_MS)
        yield c.attempt(at, victim.user_id, device, place, True)


def session_hijack(config: WorldConfig, number: int, at: int, size: int) -> Iterator[Draft]:
    """A stolen session replayed from far away soon after the victim's own login: the
    victim's device fingerprint and user agent, an impossible journey."""
    c = _Campaign(config, SESSION_HIJACK, number)
    rng = c.rng
    victim = c.victim(at)
    stolen = next(
        (d for d in itertools.islice(user_logins(config, victim.index), 2000)
         if d.at_ms >= at and d.successful),
        None,
    )
    if stolen is None:
        return
    at = stolen.at_ms + rng.randint(10 * _MINUTE_MS, 3 * HOUR_MS)
    # Far enough that even a direct flight could not have made it, with time to spare
    # for the later attempts.
    least_km = max(_HIJACK_MIN_KM, 1500.0 * (at - stolen.at_ms + HOUR_MS) / HOUR_MS)
    origin = stolen.city

    def far(city: City) -> bool:
        km = haversine_km(origin.latitude, origin.longitude, city.latitude, city.longitude)
        return km > least_km

    countries = [nation for nation in (*ATTACKER_COUNTRIES, BY_CODE["US"], BY_CODE["JP"])
                 if far(nation.cities[0])]
    # Rented servers, or a commercial VPN's exits where the world has an unlisted one (its
    # spread over countries must not pass a stolen session as the victim's VPN).
    servers = [network for network in HOSTING + c.unlisted_vpn if far(network.city)]
    if servers and (not countries or rng.random() < 0.4):
        place = c.server(rng.choice(servers))
    elif countries:
        country = rng.choice(countries)
        place = c.residential(country, country.cities[0])
    else:
        return
    device = Device(stolen.device_id, stolen.client)
    for _ in range(rng.choice((1, 1, 2, 3))):
        yield c.attempt(at, victim.user_id, device, place, True, auth=stolen.auth_method)
        at += rng.randint(2 * _MINUTE_MS, 30 * _MINUTE_MS)


def fraud_ring(config: WorldConfig, number: int, at: int, size: int) -> Iterator[Draft]:
    """An organised group working through bought credentials for days with a small set of
    phones and residential proxies in one country: devices and addresses shared across
    accounts that otherwise have nothing in common."""
    c = _Campaign(config, FRAUD_RING, number)
    rng = c.rng
    country = rng.choices(HOMES, weights=[h.weight for h in HOMES])[0]
    # Each ring its own shape (how many devices and addresses it reuses, over how long, how
    # often a bought password is stale), so that a model learns reuse across accounts, not
    # one ring's numbers.
    devices = [
        Device(hex_id(rng), rng.choice(MOBILE_CLIENTS + DESKTOP_CLIENTS))
        for _ in range(rng.randint(1, 8))
    ]
    places = [c.residential(country) for _ in range(rng.randint(2, 12))]
    period = rng.randint(2, 21) * DAY_MS
    stale = rng.uniform(0.0, 0.5)
    attempts: list[Draft] = []
    while len(attempts) < size:
        victim = c.victim(at + period)
        when = at + rng.randint(0, period)
        device, place = rng.choice(devices), rng.choice(places)
        failures = 1 if rng.random() < stale else 0
        if failures:
            attempts.append(c.attempt(when, victim.user_id, device, place, False))
            when += rng.randint(20_000, 300_000)
        attempts.append(c.attempt(when, victim.user_id, device, place, True, failures))
    yield from sorted(attempts[:size], key=lambda d: d.at_ms)


def low_and_slow(config: WorldConfig, number: int, at: int, size: int) -> Iterator[Draft]:
    """A patient attacker who knows the victim: the victim's city and ISP (a residential
    proxy there), the user agent of the victim's everyday device (as captured when the victim's
    account opened: exact, or one number off), the victim's usual hours, one login every few
    days. Only the device fingerprint and the address are the attacker's."""
    c = _Campaign(config, LOW_AND_SLOW, number)
    rng = c.rng
    victim = c.victim(at)
    home = victim.home
    client = victim.devices[0].client
    near = config.knobs.near_copy_rate
    if near and rng.random() < near:
        client = near_copy(client, rng)
    device = Device(hex_id(rng), client)
    sticky = rng.random() < 0.5
    place = c.residential(home.country, home.city)
    day = (at - config.start_ms) // DAY_MS
    last = at
    for _ in range(rng.randint(3, 10)):
        local_hour = rng.gauss(rng.choice(victim.peaks), victim.hour_spread / 2) % 24
        when = config.start_ms + day * DAY_MS + int(
            (local_hour - home.country.utc_offset_h) * HOUR_MS
        )
        if not sticky:
            place = (home.city, home.isp, home.isp.address(rng.getrandbits(24)))
        last = max(when, last + 1)
        yield c.attempt(last, victim.user_id, device, place, True, auth=victim.auth_method)
        day += rng.randint(2, 7)


CampaignFactory = Callable[[WorldConfig, int, int, int], Iterator[Draft]]
CAMPAIGNS: dict[str, CampaignFactory] = {
    CREDENTIAL_STUFFING: credential_stuffing,
    PASSWORD_SPRAY: password_spray,
    TARGETED_TAKEOVER: targeted_takeover,
    SESSION_HIJACK: session_hijack,
    FRAUD_RING: fraud_ring,
    LOW_AND_SLOW: low_and_slow,
}


def launches(config: WorldConfig) -> Iterator[tuple[int, Iterator[Draft]]]:
    """(launch time, campaign) in time order, for ever: each span of `days` launches the
    campaigns its attack budget pays for, in a shuffled order, evenly spaced with jitter."""
    counts: dict[str, int] = {}
    sizes: dict[str, float] = {}
    for attack in ATTACK_TYPES:
        budget = config.attack_events(attack)
        if budget <= 0:
            continue
        counts[attack] = max(1, round(budget / _MEAN_ATTEMPTS[attack]))
        sizes[attack] = budget / counts[attack]
    slots = [attack for attack in ATTACK_TYPES for _ in range(counts.get(attack, 0))]
    if not slots:
        return
    rng = random.Random(f"{config.seed}/launches")
    gap = config.span_ms / len(slots)
    for cycle in itertools.count():
        order = slots.copy()
        rng.shuffle(order)
        for k, attack in enumerate(order):
            number = cycle * len(slots) + k
            at = config.start_ms + int((number + rng.uniform(0.1, 0.9)) * gap)
            jitter = rng.uniform(0.5, 1.5) if attack in BULK_ATTACKS else 1.0
            size = max(1, round(sizes[attack] * jitter))
            yield at, CAMPAIGNS[attack](config, number, at, size)
