"""A small seeded login generator: habitual users, occasional travel, a few percent attacks.

Every user is a stream of logins in time order drawn from their own seeded random source
(home city and ISP, one to three devices, usual hours, trips abroad), and so is every
attack: credential stuffing (a few hosting IPs trying many accounts, nearly all failing)
and targeted account takeover (a new device from another country, a failure or two, then
success). The streams are merged lazily by time, so memory grows with the number of users,
never with the number of events, and the same seed gives the same events.

Ground truth: `is_attack_ip` marks every credential-stuffing attempt; `is_account_takeover`
marks every attempt of a targeted takeover and the stuffing attempts that got in.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from operator import attrgetter

from aegis.v1 import common_pb2 as pb
from aegis_cli.rows import Labels
from aegis_cli.world import (
    ATTACK_CLIENTS,
    CLIENTS,
    COUNTRIES,
    HOSTING_CITIES,
    City,
    Client,
    Country,
    Network,
)

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_BENIGN = Labels(is_attack_ip=False, is_account_takeover=False)
# Habits: a typo before a successful password login; the odds of leaving on a trip on a
# day with a login; how spread out activity is between users (log-normal sigma).
_TYPO_RATE = 0.06
_TRAVEL_RATE = 0.02
_ACTIVITY_SIGMA = 0.8
_USUAL_HOURS = (8.0, 12.5, 18.0, 21.0)
# People log in a few times a day at most: when more events are asked of fewer users than
# that allows over `days`, the time span grows instead.
_MOST_LOGINS_PER_DAY = 12.0
# Share of the attack budget spent on credential stuffing; the rest on targeted takeovers.
_STUFFING_SHARE = 0.75
_STUFFING_MEAN_SIZE = 120
_TAKEOVER_EVENTS = 3
_STUFFING_SUCCESS = 0.02
_STUFFING_REAL_TARGETS = 0.6


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """What to generate. `attack_share` is the fraction of events that are attacks."""

    users: int
    events: int
    seed: int
    start: datetime = DEFAULT_START
    days: float = 30.0
    attack_share: float = 0.03

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

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def span_ms(self) -> int:
        return int(self.days * _DAY_MS)


@dataclass(frozen=True, slots=True)
class GeneratedLogin:
    """One login and its ground truth, which is never part of the event."""

    event: pb.LoginEvent
    labels: Labels


@dataclass(frozen=True, slots=True)
class _Draft:
    """A login before its event id, which is given in output order, is known."""

    at_ms: int
    user_id: str
    device_id: str
    client: Client
    city: City
    network: Network
    ip: str
    successful: bool
    auth_method: pb.AuthMethod.ValueType
    session_id: str
    labels: Labels = _BENIGN
    failed_before: int = 0
    round_trip_ms: float | None = None


@dataclass(frozen=True, slots=True)
class _Profile:
    user_id: str
    country: Country
    city: City
    network: Network
    home_ips: tuple[str, ...]
    devices: tuple[tuple[str, Client], ...]
    usual_hour: float
    hour_spread: float
    logins_per_day: float
    auth_method: pb.AuthMethod.ValueType


def generate(config: GeneratorConfig) -> Iterator[GeneratedLogin]:
    """Exactly `config.events` logins in time order (ties in a fixed order)."""
    if config.events == 0:
        return
    streams = [_user_logins(config, i) for i in range(config.users)]
    streams.append(_attacks(config))
    merged = heapq.merge(*streams, key=attrgetter("at_ms"))
    for number, draft in enumerate(itertools.islice(merged, config.events)):
        yield GeneratedLogin(_event(draft, f"gen{config.seed}-{number}"), draft.labels)


def _event(draft: _Draft, event_id: str) -> pb.LoginEvent:
    rng = random.Random(event_id)
    event = pb.LoginEvent(
        event_id=event_id,
        user_id=draft.user_id,
        session_id=draft.session_id,
        device_id=draft.device_id,
        ip=draft.ip,
        country=draft.city.country,
        region=draft.city.region,
        city=draft.city.name,
        asn=draft.network.asn,
        user_agent=draft.client.user_agent,
        browser=draft.client.browser,
        os=draft.client.os,
        device_type=draft.client.device_type,
        login_successful=draft.successful,
        auth_method=draft.auth_method,
        failed_attempts_before=draft.failed_before,
        # Geolocation is approximate: a few kilometres around the city centre.
        latitude=round(draft.city.latitude + rng.gauss(0, 0.05), 4),
        longitude=round(draft.city.longitude + rng.gauss(0, 0.05), 4),
        accuracy_radius_km=float(rng.choice((5, 10, 20, 50))),
    )
    event.timestamp.FromMilliseconds(draft.at_ms)
    if draft.round_trip_ms is not None:
        event.round_trip_time_ms = draft.round_trip_ms
    return event


def _user_id(seed: int, index: int) -> str:
    # Signed 64-bit like the RBA dataset's ids, so that both output formats carry them.
    return str(random.Random(f"{seed}/user-id/{index}").randrange(-(2**63), 2**63))


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def _profile(config: GeneratorConfig, index: int) -> _Profile:
    rng = random.Random(f"{config.seed}/profile/{index}")
    country = rng.choices(COUNTRIES, weights=[c.weight for c in COUNTRIES])[0]
    network = rng.choice(country.networks)
    devices = tuple((_hex_id(rng), rng.choice(CLIENTS)) for _ in range(rng.randint(1, 3)))
    benign_share = 1 - config.attack_share
    mean_rate = config.events * benign_share / config.users / config.days
    # Normalised so that the population's mean rate is mean_rate.
    activity = rng.lognormvariate(0, _ACTIVITY_SIGMA) / math.exp(_ACTIVITY_SIGMA**2 / 2)
    return _Profile(
        user_id=_user_id(config.seed, index),
        country=country,
        city=rng.choice(country.cities),
        network=network,
        home_ips=tuple(network.address(rng.getrandbits(24)) for _ in range(rng.randint(1, 2))),
        devices=devices,
        usual_hour=rng.choice(_USUAL_HOURS) + rng.uniform(-1, 1),
        hour_spread=rng.uniform(1.0, 3.0),
        logins_per_day=min(mean_rate * activity, _MOST_LOGINS_PER_DAY),
        auth_method=pb.AUTH_METHOD_PASSKEY if rng.random() < 0.1 else pb.AUTH_METHOD_PASSWORD,
    )


def _user_logins(config: GeneratorConfig, index: int) -> Iterator[_Draft]:
    """One user's logins, forever, in time order."""
    profile = _profile(config, index)
    rng = random.Random(f"{config.seed}/logins/{index}")
    active = -math.expm1(-profile.logins_per_day)  # chance that a day has any login
    day = -1
    trip: tuple[City, Network, str] | None = None
    trip_ends = 0
    last_ms = config.start_ms - 1
    while True:
        # Jump straight to the next day with a login: a quiet user costs nothing.
        day += _geometric(rng, active)
        if trip is not None and day >= trip_ends:
            trip = None
        if trip is None and rng.random() < _TRAVEL_RATE:
            trip = _trip(rng, profile.country)
            trip_ends = day + rng.randint(2, 7)
        drafts: list[_Draft] = []
        for _ in range(_positive_poisson(rng, profile.logins_per_day)):
            local_hour = rng.gauss(profile.usual_hour, profile.hour_spread) % 24
            at = config.start_ms + day * _DAY_MS + int(
                (local_hour - profile.country.utc_offset_h) * _HOUR_MS
            )
            drafts += _habitual_login(profile, rng, at, trip)
        for draft in sorted(drafts, key=attrgetter("at_ms")):
            if draft.at_ms < config.start_ms:
                continue
            # Strictly increasing, so that the merge by time keeps each user's order.
            last_ms = max(draft.at_ms, last_ms + 1)
            yield replace(draft, at_ms=last_ms)


def _trip(rng: random.Random, home: Country) -> tuple[City, Network, str]:
    abroad = rng.choice([c for c in COUNTRIES if c.code != home.code])
    network = rng.choice(abroad.networks)
    return rng.choice(abroad.cities), network, network.address(rng.getrandbits(24))


def _habitual_login(
    profile: _Profile, rng: random.Random, at: int, trip: tuple[City, Network, str] | None
) -> list[_Draft]:
    """A login by the user themself, with the typo before it when there is one."""
    # The first device is the everyday one.
    usual = 0 if rng.random() < 0.6 else rng.randrange(len(profile.devices))
    device_id, client = profile.devices[usual]
    if trip is not None:
        city, network, ip = trip
    elif client.device_type == pb.DEVICE_TYPE_MOBILE and rng.random() < 0.3:
        # On the mobile network rather than home wifi: same country, any address.
        city, network = profile.city, rng.choice(profile.country.networks)
        ip = network.address(rng.getrandbits(24))
    else:
        city, network, ip = profile.city, profile.network, rng.choice(profile.home_ips)
    # Like the RBA dataset, only a few logins measure their round-trip time.
    measured = rng.random() < 0.05
    round_trip = float(round(rng.lognormvariate(math.log(400), 0.5))) if measured else None
    login = _Draft(
        at_ms=at, user_id=profile.user_id, device_id=device_id, client=client, city=city,
        network=network, ip=ip, successful=True, auth_method=profile.auth_method,
        session_id=_hex_id(rng), round_trip_ms=round_trip,
    )
    if profile.auth_method == pb.AUTH_METHOD_PASSWORD and rng.random() < _TYPO_RATE:
        typo = replace(login, at_ms=at - rng.randint(5_000, 60_000), successful=False,
                       session_id=_hex_id(rng))
        return [typo, replace(login, failed_before=1)]
    return [login]


def _attacks(config: GeneratorConfig) -> Iterator[_Draft]:
    """Every attack in time order. Campaigns are opened only when they are due, so that
    memory holds the campaigns under way, not all of them."""
    due: list[tuple[int, int, _Draft, Iterator[_Draft]]] = []
    launches = _launches(config)
    upcoming = next(launches, None)
    opened = 0
    while due or upcoming is not None:
        # A campaign's first attempt is at or after its launch: one launched after the
        # earliest attempt due cannot come before it.
        while upcoming is not None and (not due or upcoming[0] <= due[0][0]):
            campaign = upcoming[1]
            first = next(campaign, None)
            if first is not None:
                heapq.heappush(due, (first.at_ms, opened, first, campaign))
                opened += 1
            upcoming = next(launches, None)
        _, order, draft, campaign = heapq.heappop(due)
        yield draft
        following = next(campaign, None)
        if following is not None:
            heapq.heappush(due, (following.at_ms, order, following, campaign))


def _launches(config: GeneratorConfig) -> Iterator[tuple[int, Iterator[_Draft]]]:
    """(launch time, campaign) in time order, evenly spread with jitter, for ever."""
    budget = config.events * config.attack_share
    stuffing_events = budget * _STUFFING_SHARE
    stuffings = math.ceil(stuffing_events / _STUFFING_MEAN_SIZE)
    takeovers = int((budget - stuffing_events) // _TAKEOVER_EVENTS)
    per_span = stuffings + takeovers
    if per_span == 0:
        return
    mean_size = stuffing_events / stuffings if stuffings else 0.0
    rng = random.Random(f"{config.seed}/launches")
    gap = config.span_ms / per_span
    for k in itertools.count():
        at = config.start_ms + int((k + rng.uniform(0.1, 0.9)) * gap)
        # Stuffing campaigns spread evenly among the launches (Bresenham), exactly
        # `stuffings` of every `per_span`, whatever the random draws.
        if (k + 1) * stuffings // per_span > k * stuffings // per_span:
            size = max(1, round(rng.uniform(0.5, 1.5) * mean_size))
            yield at, _credential_stuffing(config, k, at, size)
        else:
            yield at, _account_takeover(config, k, at)


def _credential_stuffing(
    config: GeneratorConfig, campaign: int, at: int, size: int
) -> Iterator[_Draft]:
    """A burst from a few rented servers over many accounts, real and not."""
    rng = random.Random(f"{config.seed}/stuffing/{campaign}")
    city, network = rng.choice(HOSTING_CITIES)
    ips = [network.address(rng.getrandbits(16)) for _ in range(rng.randint(1, 4))]
    client = rng.choice(ATTACK_CLIENTS)
    for _ in range(size):
        at += rng.randint(300, 15_000)
        real = rng.random() < _STUFFING_REAL_TARGETS
        if real:
            user_id = _user_id(config.seed, rng.randrange(config.users))
        else:
            user_id = str(rng.randrange(-(2**63), 2**63))
        got_in = real and rng.random() < _STUFFING_SUCCESS
        yield _Draft(
            at_ms=at, user_id=user_id, device_id=_hex_id(rng), client=client, city=city,
            network=network, ip=rng.choice(ips), successful=got_in,
            auth_method=pb.AUTH_METHOD_PASSWORD, session_id=_hex_id(rng),
            labels=Labels(is_attack_ip=True, is_account_takeover=got_in),
        )


def _account_takeover(config: GeneratorConfig, number: int, at: int) -> Iterator[_Draft]:
    """Someone else with the password: a new device in another country, then success."""
    rng = random.Random(f"{config.seed}/takeover/{number}")
    victim = _profile(config, rng.randrange(config.users))
    abroad = rng.choice([c for c in COUNTRIES if c.code != victim.country.code])
    network = rng.choice(abroad.networks)
    attacker = _Draft(
        at_ms=at,
        user_id=victim.user_id, device_id=_hex_id(rng), client=rng.choice(CLIENTS),
        city=rng.choice(abroad.cities), network=network,
        ip=network.address(rng.getrandbits(24)), successful=False,
        auth_method=pb.AUTH_METHOD_PASSWORD, session_id=_hex_id(rng),
        labels=Labels(is_attack_ip=False, is_account_takeover=True),
    )
    failures = rng.randint(0, _TAKEOVER_EVENTS - 1)
    at = attacker.at_ms
    for _ in range(failures):
        yield replace(attacker, at_ms=at, session_id=_hex_id(rng))
        at += rng.randint(10_000, 120_000)
    yield replace(attacker, at_ms=at, successful=True, failed_before=failures)


def _geometric(rng: random.Random, p: float) -> int:
    """Days until the next active day (>= 1) when each day is active with chance p."""
    if p >= 1:
        return 1
    return 1 + int(math.log(1 - rng.random()) / math.log1p(-p))


def _positive_poisson(rng: random.Random, mean: float) -> int:
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
