"""People: a home and household, devices, usual hours, work, trips, VPNs, new phones; and the
stream of their own logins, which never ends and is the same for the same seed."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

from aegis.v1 import common_pb2 as pb
from aegis_domain.geo_data import haversine_km
from aegis_lab.world.clients import updated
from aegis_lab.world.config import DAY_MS, HOUR_MS, WorldConfig
from aegis_lab.world.draft import Draft
from aegis_lab.world.places import (
    BY_CODE,
    COUNTRIES,
    DESKTOP_CLIENTS,
    HOMES,
    MOBILE_CLIENTS,
    NEW_PHONE_CLIENTS,
    TABLET_CLIENTS,
    VPN_EXITS,
    City,
    Client,
    Country,
    Network,
    unlisted_vpn,
)
from aegis_lab.world.randomness import geometric, hex_id, positive_poisson, round_trip_ms, user_id
from aegis_lab.world.truth import (
    FORGOTTEN_PASSWORD,
    LEGITIMATE,
    NEW_ACCOUNT,
    NEW_DEVICE,
    SHARED_DEVICE,
    TRAVEL,
    VPN,
    Truth,
)

# The rest of who people are and what happens to them is the world's knobs (WorldConfig.knobs).
PASSKEY_RATE = 0.10
FORGOTTEN_PASSWORD_RATE = 0.004
GIVE_UP_RATE = 0.15  # of forgotten passwords never recovered that day
NEW_DEVICE_LOGINS = 5  # first logins on a new phone that count as a hard case
NEW_ACCOUNT_LOGINS = 3
# A new account's first sign-in fails more often than a habit's: the password is new and no
# password manager or browser has it yet.
NEW_ACCOUNT_TYPO_RATE = 0.2
# The ceiling of activity.
_MOST_LOGINS_PER_DAY = 12.0
_USUAL_HOURS = (7.5, 12.5, 18.0, 21.0)
# Door to door: airports, then cruising speed.
_AIRPORT_MS = 2 * HOUR_MS
_FLIGHT_KMH = 750.0


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    client: Client

    @property
    def is_phone(self) -> bool:
        return self.client.device_type == pb.DEVICE_TYPE_MOBILE


@dataclass(frozen=True, slots=True)
class Home:
    """Where a user lives; shared by the members of a household."""

    key: str
    country: Country
    city: City
    isp: Network
    lease_days: int
    family_device: Device | None

    def ip(self, day: int) -> str:
        """The home's address on `day`: the ISP reassigns it when a lease runs out."""
        lease = random.Random(f"{self.key}/lease/{day // self.lease_days}")
        return self.isp.address(lease.getrandbits(24))


@dataclass(frozen=True, slots=True)
class Profile:
    """Who a user is and how they log in; a pure function of the seed and their index."""

    index: int
    user_id: str
    home: Home
    devices: tuple[Device, ...]  # personal devices, the everyday one first
    work_ip: str | None
    peaks: tuple[float, ...]  # usual local hours
    hour_spread: float
    logins_per_day: float
    auth_method: pb.AuthMethod.ValueType
    travel_rate: float  # chance per active day of leaving on a trip
    vpn_share: float  # share of logins through a VPN
    vpn_exits: tuple[Network, ...]
    vpn_from_day: int  # the first day they use the VPN
    join_day: int


def home_of(config: WorldConfig, index: int) -> Home:
    """The user's home; users 2k and 2k+1 share one when they form a household."""
    pair = index // 2
    shared = random.Random(f"{config.seed}/household/{pair}")
    if shared.random() < config.knobs.household_rate and 2 * pair + 1 < config.users:
        rng, key = shared, f"{config.seed}/household/{pair}"
        family: Device | None = Device(hex_id(rng), rng.choice(TABLET_CLIENTS + DESKTOP_CLIENTS))
    else:
        key = f"{config.seed}/home/{index}"
        rng, family = random.Random(key), None
    country = rng.choices(HOMES, weights=[c.weight for c in HOMES])[0]
    return Home(
        key=key,
        country=country,
        city=rng.choice(country.cities),
        isp=rng.choice(country.residential),
        lease_days=rng.randint(20, 120),
        family_device=family,
    )


def profile(config: WorldConfig, index: int) -> Profile:
    """User `index` of the world."""
    rng = random.Random(f"{config.seed}/profile/{index}")
    home = home_of(config, index)
    devices = []
    if rng.random() < 0.85:
        devices.append(Device(hex_id(rng), rng.choice(MOBILE_CLIENTS)))
    if not devices or rng.random() < 0.6:
        devices.append(Device(hex_id(rng), rng.choice(DESKTOP_CLIENTS)))
    if rng.random() < 0.15:
        devices.append(Device(hex_id(rng), rng.choice(TABLET_CLIENTS)))
    if len(devices) > 1 and rng.random() < 0.4:
        devices.reverse()
    work_ip = None
    if rng.random() < config.knobs.employed_rate:
        companies = max(1, round(config.users * home.country.weight
                                / config.knobs.users_per_company))
        company = rng.randrange(companies)
        work_ip = home.country.business.address(4 * company + rng.randrange(2))
    benign_events = config.events * (1 - config.attack_share)
    mean_rate = benign_events / config.users / config.days
    # Normalised so that the population's mean rate is mean_rate.
    sigma = config.knobs.activity_sigma
    activity = rng.lognormvariate(0, sigma) / math.exp(sigma**2 / 2)
    peaks = tuple(
        rng.choice(_USUAL_HOURS) + rng.uniform(-1, 1) for _ in range(rng.choice((1, 1, 2)))
    )
    vpn = rng.random() < config.knobs.vpn_user_rate
    late = rng.random() < config.knobs.late_join_rate
    return Profile(
        index=index,
        user_id=user_id(config.seed, index),
        home=home,
        devices=tuple(devices),
        work_ip=work_ip,
        peaks=peaks,
        hour_spread=rng.uniform(0.7, 2.5),
        logins_per_day=min(mean_rate * activity, _MOST_LOGINS_PER_DAY),
        auth_method=pb.AUTH_METHOD_PASSKEY if rng.random() < PASSKEY_RATE
        else pb.AUTH_METHOD_PASSWORD,
        travel_rate=0.03 if rng.random() < config.knobs.frequent_traveller_rate else 0.004,
        vpn_share=rng.uniform(0.2, 0.8) if vpn else 0.0,
        vpn_exits=_sample(rng, _vpn_provider(config, index), rng.randint(1, 3)) if vpn else (),
        vpn_from_day=_vpn_from_day(config, index) if vpn else 0,
        join_day=int(rng.uniform(0, config.days)) if late else 0,
    )


def _vpn_provider(config: WorldConfig, index: int) -> tuple[Network, ...]:
    """The exits of the user's VPN: the listed providers', or the world's unlisted one's (from
    a randomness of its own, so that a profile's other draws stay what they were)."""
    rate = config.knobs.unlisted_vpn_rate
    if rate and random.Random(f"{config.seed}/vpn_provider/{index}").random() < rate:
        return unlisted_vpn(config.seed)
    return VPN_EXITS


def _sample(rng: random.Random, exits: tuple[Network, ...], wanted: int) -> tuple[Network, ...]:
    return tuple(rng.sample(exits, min(wanted, len(exits))))


def _vpn_from_day(config: WorldConfig, index: int) -> int:
    """0, or for a late starter a day within the world (from a randomness of its own, so that
    a profile's other draws stay what they were)."""
    rng = random.Random(f"{config.seed}/vpn_start/{index}")
    if rng.random() >= config.knobs.vpn_late_start_rate:
        return 0
    return int(rng.uniform(0, config.days))


@dataclass(frozen=True, slots=True)
class _Trip:
    city: City
    hotel: Network
    hotel_ip: str
    ends_day: int


def flight_ms(a: City, b: City) -> int:
    """The least time between logins in two cities for a traveller who flies."""
    if a == b:
        return 0
    km = haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)
    return _AIRPORT_MS + int(km / _FLIGHT_KMH * HOUR_MS)


class _Life:
    """What changes about a user over time: their phone, trips, logins so far."""

    def __init__(self, config: WorldConfig, person: Profile, rng: random.Random) -> None:
        self.config = config
        self.person = person
        self.rng = rng
        self.devices = list(person.devices)
        self.new_phone: Device | None = None
        self.new_phone_logins_left = 0
        self.trip: _Trip | None = None
        self.not_before_ms = 0
        self.last_ms = config.start_ms - 1
        self.logins = 0
        self.vpn_provider = _vpn_provider(config, person.index) if person.vpn_share else ()

    @property
    def where(self) -> City:
        return self.trip.city if self.trip else self.person.home.city

    def new_day(self, day: int) -> None:
        """Trips start and end, phones get replaced."""
        rng = self.rng
        if self.trip is not None and day >= self.trip.ends_day:
            self._move(self.person.home.city)
            self.trip = None
        elif self.trip is None and rng.random() < self.person.travel_rate:
            home = self.person.home.country
            # Some trips stay in the country; most cross a border.
            if rng.random() < 0.3 and len(home.cities) > 1:
                country = home
                city = rng.choice([c for c in home.cities if c != self.person.home.city])
            else:
                country = rng.choice([c for c in COUNTRIES if c.code != home.code])
                city = rng.choice(country.cities)
            hotel = rng.choice(country.residential)
            trip = _Trip(city, hotel, hotel.address(rng.getrandbits(24)), day + rng.randint(2, 9))
            self._move(city)
            self.trip = trip
        if rng.random() < self.config.knobs.new_phone_rate:
            phone = Device(hex_id(rng), rng.choice(NEW_PHONE_CLIENTS))
            old = next((i for i, d in enumerate(self.devices) if d.is_phone), None)
            if old is None:
                self.devices.insert(0, phone)
            else:
                self.devices[old] = phone
            self.new_phone = phone
            self.new_phone_logins_left = NEW_DEVICE_LOGINS
        update = self.config.knobs.browser_update_rate
        if update and rng.random() < update:
            which = rng.randrange(len(self.devices))
            device = self.devices[which]
            self.devices[which] = replace(device, client=updated(device.client))

    def _move(self, to: City) -> None:
        self.not_before_ms = self.last_ms + flight_ms(self.where, to)

    def logins_on(self, day: int) -> list[Draft]:
        """The user's logins on an active day, in time order."""
        person, rng = self.person, self.rng
        offset = person.home.country.utc_offset_h
        day_ms = self.config.start_ms + day * DAY_MS
        times = []
        for _ in range(positive_poisson(rng, person.logins_per_day)):
            local_hour = rng.gauss(rng.choice(person.peaks), person.hour_spread) % 24
            at = day_ms + int((local_hour - offset) * HOUR_MS)
            if at < self.not_before_ms:
                at = self.not_before_ms + rng.randint(0, 3 * HOUR_MS)
            times.append(at)
        # The world's first day counts as a Monday whatever the date, so that a later start
        # moves every login by the same amount and changes nothing else.
        weekday = day % 7 < 5
        drafts: list[Draft] = []
        for at in sorted(times):
            local_hour = (at - day_ms) / HOUR_MS + offset
            drafts += self._attempts(at, day, weekday and 8.5 <= local_hour % 24 <= 17)
        return drafts

    def _attempts(self, at: int, day: int, office_hours: bool) -> list[Draft]:
        """One login, with the failed attempts before it when there are any."""
        person, rng = self.person, self.rng
        device = self._device()
        city, network, ip, hard_case = self._connection(device, day, office_hours)
        if self.new_phone_logins_left and device == self.new_phone:
            self.new_phone_logins_left -= 1
            hard_case = hard_case or NEW_DEVICE
        if not hard_case and person.home.family_device == device:
            hard_case = SHARED_DEVICE
        self.logins += 1
        if not hard_case and person.join_day and self.logins <= NEW_ACCOUNT_LOGINS:
            hard_case = NEW_ACCOUNT
        login = Draft(
            at_ms=at, user_id=person.user_id, device_id=device.device_id, client=device.client,
            city=city, network=network, ip=ip, successful=True,
            auth_method=person.auth_method, session_id=hex_id(rng),
            truth=Truth(hard_case=hard_case) if hard_case else LEGITIMATE,
            round_trip_ms=round_trip_ms(rng),
        )
        if person.auth_method != pb.AUTH_METHOD_PASSWORD:
            return [login]
        if rng.random() < FORGOTTEN_PASSWORD_RATE:
            return self._forgotten(login)
        if rng.random() < self._typo_rate():
            typo = replace(login, at_ms=at - rng.randint(5_000, 60_000), successful=False,
                           session_id=hex_id(rng), round_trip_ms=None)
            return [typo, replace(login, failed_before=1)]
        return [login]

    def _typo_rate(self) -> float:
        if self.person.join_day and self.logins == 1:
            return NEW_ACCOUNT_TYPO_RATE
        return self.config.knobs.typo_rate

    def _forgotten(self, login: Draft) -> list[Draft]:
        """Several wrong passwords in a row, then (mostly) the right one."""
        rng = self.rng
        truth = login.truth if login.truth.hard_case else Truth(hard_case=FORGOTTEN_PASSWORD)
        failures = rng.randint(3, 6)
        at = login.at_ms
        attempts = []
        for _ in range(failures):
            attempts.append(replace(login, at_ms=at, successful=False, session_id=hex_id(rng),
                                    truth=truth, round_trip_ms=None))
            at += rng.randint(15_000, 90_000)
        if rng.random() >= GIVE_UP_RATE:
            attempts.append(replace(login, at_ms=at, truth=truth, failed_before=failures))
        return attempts

    def _device(self) -> Device:
        rng = self.rng
        family = self.person.home.family_device
        if family is not None and self.trip is None and rng.random() < 0.15:
            return family
        if self.trip is not None:
            phones = [d for d in self.devices if d.is_phone]
            if phones and rng.random() < 0.8:
                return phones[0]
        if rng.random() < 0.6:
            return self.devices[0]
        return rng.choice(self.devices)

    def _connection(
        self, device: Device, day: int, office_hours: bool
    ) -> tuple[City, Network, str, str]:
        """Where the login comes from: city, network, address, and the hard case it makes."""
        person, rng = self.person, self.rng
        home = person.home
        if self.trip is not None:
            choice = rng.random()
            if choice < 0.5 or not device.is_phone:
                return self.trip.city, self.trip.hotel, self.trip.hotel_ip, TRAVEL
            if choice < 0.75:
                carrier = BY_CODE[self.trip.city.country].mobile
                return self.trip.city, carrier, carrier.address(rng.getrandbits(8)), TRAVEL
            # Roaming: the phone's traffic leaves through the home carrier, at home.
            carrier = home.country.mobile
            return home.city, carrier, carrier.address(rng.getrandbits(8)), TRAVEL
        if person.vpn_share and day >= person.vpn_from_day and rng.random() < person.vpn_share:
            roam = self.config.knobs.vpn_roam_rate
            exit_ = rng.choice(self.vpn_provider if roam and rng.random() < roam
                               else person.vpn_exits)
            return exit_.city, exit_, exit_.address(rng.getrandbits(8)), VPN
        if person.work_ip and office_hours and not device.is_phone and rng.random() < 0.8:
            return home.city, home.country.business, person.work_ip, ""
        if device.is_phone and rng.random() < self.config.knobs.on_carrier_rate:
            carrier = home.country.mobile
            pool = rng.getrandbits(self.config.knobs.carrier_pool_bits)
            return home.city, carrier, carrier.address(pool), ""
        return home.city, home.isp, home.ip(day), ""


def user_logins(config: WorldConfig, index: int) -> Iterator[Draft]:
    """One user's own logins, for ever, in strictly increasing time."""
    person = profile(config, index)
    rng = random.Random(f"{config.seed}/logins/{index}")
    life = _Life(config, person, rng)
    active = -math.expm1(-person.logins_per_day)  # chance that a day has any login
    day = person.join_day - 1
    while True:
        # Jump straight to the next day with a login: a quiet user costs nothing.
        day += geometric(rng, active)
        life.new_day(day)
        for draft in sorted(life.logins_on(day), key=lambda d: d.at_ms):
            if draft.at_ms < config.start_ms:
                continue
            # Strictly increasing, so that the merge by time keeps each user's order.
            life.last_ms = max(draft.at_ms, life.last_ms + 1)
            yield replace(draft, at_ms=life.last_ms)
