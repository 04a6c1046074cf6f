"""Geo agent: impossible travel since earlier logins, new countries, hosting networks; the
last three count for less on the user's own device, and so does impossible travel to a country
the user often logs in from, through a VPN they have used before, or through a network whose
logins come from many countries (a commercial VPN's exits)."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from operator import ne
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aegis_domain.countries import COUNTRIES_PATH
from aegis_domain.geo_data import (
    DEFAULT_ACCURACY_KM,
    HOSTING_ASNS_PATH,
    MIN_TRAVEL_GAP_S,
    Locator,
    Position,
    load_hosting_asns,
)
from aegis_domain.login_history import LoginHistory
from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, Reason, SignalStatus
from aegis_runtime.artifacts import fingerprint
from agent_services.attributes import device_key, device_keys
from agent_services.base import Agent, AgentDescription
from agent_services.history import no_history_reason, own_logins

# Reason codes. A reason's weight is the risk that finding alone would carry.
IMPOSSIBLE_TRAVEL = "IMPOSSIBLE_TRAVEL"
NEW_COUNTRY = "NEW_COUNTRY"
FREQUENT_COUNTRY_CHANGES = "FREQUENT_COUNTRY_CHANGES"
HOSTING_ASN = "HOSTING_ASN"

# Confidence: a third of the way there after one earlier login, half after two; a verdict
# drawn from two country-sized circles is worth less than one from two precise points.
_MIN_CONFIDENCE = 0.1
_HALF_CONFIDENCE_LOGINS = 2
_PRECISION_SCALE_KM = 500.0
# Why a finding on the user's own device counts for less, in the reason's words.
_POSSIBLE_SPEED = ("at a possible speed (travel or a VPN of their own, more likely than a "
                   "takeover)")
_FAMILIAR_COUNTRY = ("in a country this user often logs in from (a second home or their VPN's "
                     "exit, more likely than a takeover)")
# A VPN's exit is where the provider's servers are, not where the person is: a jump to the
# exit of a hosting network the user has logged in through before is their own VPN.
_OWN_VPN = ("through a hosting or VPN network this user has logged in through before (their "
            "VPN's exit, not where they are)")
# A network whose logins come from many countries is a VPN's exits whatever list it is in: a
# jump to one of them on the user's own device is the user switching their VPN on. A stolen
# session replayed from a rented server or a home connection comes through a one-country network.
_MANY_COUNTRY_NETWORK = ("through a network whose logins come from {countries} countries (a "
                         "VPN's exits, not where the user is)")


class GeoSettings(BaseSettings):
    """Thresholds of the geo agent; env prefix AEGIS_GEO_."""

    model_config = SettingsConfigDict(env_prefix="AEGIS_GEO_", extra="ignore")

    max_speed_kmh: float = Field(
        1000.0, gt=0, description="Fastest plausible travel (an airliner); faster is impossible."
    )
    min_gap_s: float = Field(
        MIN_TRAVEL_GAP_S,
        gt=0,
        description="Shorter gaps between two logins count as this long, so that same-second "
        "logins and clock skew between edge servers do not divide by almost zero.",
    )
    default_accuracy_km: float = Field(
        DEFAULT_ACCURACY_KM,
        ge=0,
        description="Uncertainty radius of a latitude/longitude given without "
        "accuracy_radius_km (city-level IP geolocation).",
    )
    compare_last: int = Field(
        3, ge=1, le=50, description="How many of the user's latest located logins to check."
    )
    impossible_travel_risk: float = Field(
        0.7,
        ge=0,
        le=1,
        description="Risk just above max_speed_kmh; rises to 1 at ten times that speed.",
    )
    new_country_risk: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Risk of a first login from a distant new country for a user who always "
        "logs in from one country; less for neighbouring countries and for travellers.",
    )
    distant_country_km: float = Field(
        2000.0,
        gt=0,
        description="A new country this far (beyond location uncertainty) from every country "
        "the user has used counts fully; an adjacent one counts half.",
    )
    frequent_changes_rate: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of consecutive logins that change country from which it is reported.",
    )
    frequent_changes_min_logins: int = Field(
        5, ge=2, description="Fewest logins with a country before a change rate is judged."
    )
    frequent_changes_risk: float = Field(
        0.3, ge=0, le=1, description="Risk when every login changes country (scaled by the rate)."
    )
    hosting_asn_risk: float = Field(
        0.3, ge=0, le=1, description="Risk of a login from a cloud, hosting or VPN network."
    )
    own_device_factor: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Multiplies the new-country, country-change and hosting-network risks of a "
        "login from a device the user has logged in from before (without a fingerprint: the "
        "same user agent) at a possible speed: a trip or a VPN on one's own phone is no "
        "takeover. Impossible travel is discounted only under familiar_country_logins and "
        "vpn_network_countries.",
    )
    familiar_country_logins: int = Field(
        3,
        ge=1,
        description="Impossible travel on the user's own device to a country they have logged "
        "in from at least this often counts at own_device_factor: a place the user keeps "
        "returning to (a second home, their VPN's exit, a coarse IP location) is no journey. "
        "A new or rarely seen country keeps the full risk (a stolen cookie replayed far away) "
        "unless it is the exit of a hosting or VPN network the user has logged in through "
        "before.",
    )
    vpn_network_countries: int = Field(
        3,
        ge=2,
        description="Impossible travel on the user's own device through a network (ASN) "
        "that logins came from at least this many countries in the audit's neighbourhood "
        "window counts at own_device_factor: a commercial VPN's exits, not a journey.",
    )
    base_risk: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Risk with no geographic anomaly: no anomaly is no proof of legitimacy.",
    )


@dataclass(frozen=True, slots=True)
class Travel:
    """The move from an earlier login to this one."""

    origin: Position
    distance_km: float
    clearance_km: float
    gap_s: float
    speed_kmh: float


class GeoAgent(Agent):
    """Pure function of (event, history, settings, tables); no trained model."""

    name = "geo"

    def __init__(self, settings: GeoSettings | None = None) -> None:
        self.settings = settings or GeoSettings()
        self.locator = Locator(self.settings.default_accuracy_km)
        self.countries = self.locator.countries
        self.hosting_asns = load_hosting_asns()
        # Every input of the verdict besides the request: a replay under the same version
        # gives the same signal (design invariant 2).
        self.version = "geo-2." + fingerprint(
            self.settings.model_dump_json(),
            COUNTRIES_PATH.read_bytes(),
            HOSTING_ASNS_PATH.read_bytes(),
        )

    def assess(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        own = own_logins(LoginHistory.of(context.history))
        position = self.locator.locate(event)
        travel = self._fastest_travel(event, position, own)
        impossible = self._impossible_travel(travel)
        reasons = [
            reason
            for reason in (
                self._new_country(event, position, own),
                self._frequent_changes(event, own),
                self._hosting(event),
            )
            if reason is not None
        ]
        if impossible is None:
            explained = _POSSIBLE_SPEED
        elif (event.country
              and own.country.count(event.country) >= self.settings.familiar_country_logins):
            explained = _FAMILIAR_COUNTRY
        elif event.asn in self.hosting_asns and event.asn in own.asn:
            explained = _OWN_VPN
        elif context.asn_countries >= self.settings.vpn_network_countries:
            explained = _MANY_COUNTRY_NETWORK.format(countries=context.asn_countries)
        else:
            explained = ""
        if impossible is not None:
            reasons.append(impossible)
        if reasons and explained and _own_device(event, own):
            reasons = [self._on_own_device(reason, explained) for reason in reasons]
        # Noisy-OR: the findings are separate ways a login can be wrong, each enough alone.
        safe = 1 - self.settings.base_risk
        for reason in reasons:
            safe *= 1 - reason.weight
        reasons.sort(key=lambda r: r.weight, reverse=True)
        if not own:
            reasons.append(no_history_reason())
        return AgentSignal(
            agent=self.name,
            status=SignalStatus.OK,
            risk=1 - safe,
            confidence=self._confidence(len(own), position, travel),
            reasons=reasons,
            model_version=self.version,
        )

    def describe(self) -> AgentDescription:
        return AgentDescription(
            name=self.name,
            model_version=self.version,
            features=["latitude", "longitude", "accuracy_radius_km", "country", "asn", "timestamp",
                      "device_id", "user_agent", "asn_countries"],
            ready=True,
            description="Implied travel speed since the user's recent logins (net of location "
            f"uncertainty, limit {self.settings.max_speed_kmh:.0f} km/h), first-seen and "
            "frequently changing countries, hosting networks.",
        )

    def _fastest_travel(
        self, event: LoginEvent, position: Position | None, own: LoginHistory
    ) -> Travel | None:
        if position is None:
            return None
        travels = []
        located = self.locator.located(own)
        for timestamp, origin in itertools.islice(located, self.settings.compare_last):
            gap_s = event.timestamp - timestamp
            clearance = position.clearance_km(origin)
            hours = max(gap_s, self.settings.min_gap_s) / 3600
            travels.append(
                Travel(origin, position.distance_km(origin), clearance, gap_s, clearance / hours)
            )
        return max(travels, key=lambda t: t.speed_kmh, default=None)

    def _impossible_travel(self, travel: Travel | None) -> Reason | None:
        limit = self.settings.max_speed_kmh
        if travel is None or travel.speed_kmh <= limit:
            return None
        floor = self.settings.impossible_travel_risk
        risk = min(1.0, floor + (1 - floor) * math.log10(travel.speed_kmh / limit))
        return Reason(
            code=IMPOSSIBLE_TRAVEL,
            message=f"{travel.distance_km:.0f} km from the earlier login at {travel.origin.place}, "
            f"{_duration(travel.gap_s)} before: at least {travel.speed_kmh:.0f} km/h after "
            f"allowing {travel.distance_km - travel.clearance_km:.0f} km for location "
            f"uncertainty (limit {limit:.0f} km/h)",
            weight=risk,
        )

    def _new_country(
        self, event: LoginEvent, position: Position | None, own: LoginHistory
    ) -> Reason | None:
        seen = Counter(own.country)
        seen.pop("", None)
        if not event.country or not seen or event.country in seen:
            return None
        known = sorted(seen)
        logins = seen.total()
        # Witten-Bell: a user who has already used many countries is less surprised by one more.
        novelty = logins / (logins + len(known))
        nearest = self._nearest_known_km(position, known)
        remoteness = (
            1.0
            if nearest is None
            else 0.5 + 0.5 * min(1.0, nearest / self.settings.distant_country_km)
        )
        country = self.countries.get(event.country)
        listed = ", ".join(known[:5]) + (", ..." if len(known) > 5 else "")
        message = (
            f"first login from {country.name if country else event.country} for this user; "
            f"{logins} earlier logins came from {listed}"
        )
        if nearest:
            message += f"; at least {nearest:.0f} km from the nearest of them"
        return Reason(
            code=NEW_COUNTRY,
            message=message,
            weight=self.settings.new_country_risk * novelty * remoteness,
        )

    def _nearest_known_km(self, position: Position | None, known: list[str]) -> float | None:
        if position is None:
            return None
        circles = [
            Position(c.latitude, c.longitude, c.radius_km, c.name)
            for code in known
            if (c := self.countries.get(code)) is not None
        ]
        return min((position.clearance_km(circle) for circle in circles), default=None)

    def _frequent_changes(self, event: LoginEvent, own: LoginHistory) -> Reason | None:
        chain = list(filter(None, reversed(own.country)))
        if event.country:
            chain.append(event.country)
        if len(chain) < self.settings.frequent_changes_min_logins:
            return None
        transitions = len(chain) - 1
        changes = sum(map(ne, chain, itertools.islice(chain, 1, None)))
        rate = changes / transitions
        if rate < self.settings.frequent_changes_rate:
            return None
        return Reason(
            code=FREQUENT_COUNTRY_CHANGES,
            message=f"country changed {changes} times in the last {len(chain)} logins "
            f"({rate:.0%} of consecutive pairs)",
            weight=self.settings.frequent_changes_risk * rate,
        )

    def _hosting(self, event: LoginEvent) -> Reason | None:
        operator = self.hosting_asns.get(event.asn)
        if operator is None:
            return None
        return Reason(
            code=HOSTING_ASN,
            message=f"ASN {event.asn} ({operator}) is a cloud, hosting or VPN network, "
            "rarely a person's own connection",
            weight=self.settings.hosting_asn_risk,
        )

    def _on_own_device(self, reason: Reason, explained: str) -> Reason:
        return Reason(
            code=reason.code,
            message=f"{reason.message}; on a device the user has logged in from before, "
            f"{explained}",
            weight=reason.weight * self.settings.own_device_factor,
        )

    def _confidence(
        self, own_count: int, position: Position | None, travel: Travel | None
    ) -> float:
        history = own_count / (own_count + _HALF_CONFIDENCE_LOGINS)
        if position is None:
            precision = 0.0
        else:
            other = travel.origin.radius_km if travel else position.radius_km
            precision = _PRECISION_SCALE_KM / (_PRECISION_SCALE_KM + position.radius_km + other)
        return _MIN_CONFIDENCE + (1 - _MIN_CONFIDENCE) * history * (0.5 + 0.5 * precision)


def _own_device(event: LoginEvent, own: LoginHistory) -> bool:
    """Whether the user has logged in from this device before (attributes.device_key: the
    fingerprint, else the user agent)."""
    device = device_key(event.device_id, event.user_agent)
    return bool(device) and device in device_keys(own)


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(seconds, 0.0) / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def make_agent(model_dir: Path) -> GeoAgent:
    """The registry's entry point; geo has no trained model, its tables ship in data/."""
    return GeoAgent()
