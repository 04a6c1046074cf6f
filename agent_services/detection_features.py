"""The detection agent's features: one function of (event, context), for training and serving.

Every feature comes from the raw event and the context GetContext returns (history, counts,
neighbours), never from labels and never from earlier decisions (a past login's action or
risk, a neighbour's flagged count or max risk): offline, the decisions of the system being
trained do not exist yet, and a model that learned from them would learn its own past.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import eq, le, mod, mul, ne, not_, sub, truediv

from aegis_domain.geo_data import MIN_TRAVEL_GAP_S, Locator, load_hosting_asns
from aegis_domain.login_history import LoginHistory
from aegis_domain.types import LinkKind, LoginContext, LoginEvent, Neighbor
from agent_services.attributes import FEATURES as VALUE_FEATURES
from agent_services.attributes import Feature, device_key, device_keys
from agent_services.history import successful_logins
from agent_services.user_agents import user_agent_builds

MISSING = math.nan
_HOUR_S = 3600.0
_DAY_S = 86_400.0
# Location is compared with this many of the user's latest logins, as the geo agent does.
_COMPARE_LAST = 3
_RECENT_DEVICES_S = 7 * _DAY_S


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """A feature's name (the model's column) and what it measures, for reason messages."""

    name: str
    label: str


def _specs() -> tuple[FeatureSpec, ...]:
    specs = [
        FeatureSpec("own_logins", "earlier successful logins of the user"),
        FeatureSpec("attempts", "earlier attempts on the account"),
        FeatureSpec("history_truncated", "history longer than the context holds"),
        FeatureSpec("account_age_days", "days since the oldest login in the history"),
        FeatureSpec("hours_since_login", "hours since the user's last successful login"),
        FeatureSpec("hours_since_attempt", "hours since the last attempt on the account"),
        FeatureSpec("device_seen", "earlier logins from this device"),
        FeatureSpec("device_share", "share of the user's logins from this device"),
        FeatureSpec("device_age_days", "days since this device first logged in"),
        FeatureSpec("device_ip_seen", "earlier logins from this device and address together"),
        FeatureSpec("device_ips_shared", "share of this device's logins from addresses the "
                    "user's other devices also use"),
        FeatureSpec("new_device_new_ip", "device and address both new to the user"),
        FeatureSpec("user_agent_elsewhere", "share of the user's logins with this user agent "
                    "that came from another device"),
        FeatureSpec("hours_since_other_device", "hours since the user last logged in from "
                    "another device"),
    ]
    specs += [
        FeatureSpec(f"{f.name}_share", f"share of the user's logins with this {f.label}")
        for f in VALUE_FEATURES
    ]
    specs += [
        FeatureSpec("build_elsewhere_share", "share of the user's logins that reported this "
                    "browser build under another user-agent string"),
        FeatureSpec("user_agent_numbers_changed", "numbers that differ from the nearest other "
                    "user agent of the user's with the same text"),
    ]
    specs += [
        FeatureSpec("distinct_devices", "devices the user has logged in from"),
        FeatureSpec("distinct_ips", "addresses the user has logged in from"),
        FeatureSpec("distinct_countries", "countries the user has logged in from"),
        FeatureSpec("main_device_share", "share of the user's logins from their main device"),
        FeatureSpec("recent_devices", "devices the user logged in from in the last 7 days"),
        FeatureSpec("login_successful", "the password was right"),
        FeatureSpec("failed_before", "failed attempts reported before this one"),
        FeatureSpec("failures_24h", "failed attempts on the account in the last 24 h"),
        FeatureSpec("failures_since_success", "failed attempts since the last success"),
        FeatureSpec("address_failure_share", "share of the account's attempts from this "
                    "address that failed"),
        FeatureSpec("address_return_share", "share of the account's attempts since this "
                    "address first appeared that came from it"),
        FeatureSpec("address_rival_returns", "attempts on the account since this address first "
                    "appeared from addresses it used before"),
        FeatureSpec("network_one_off_share", "share of the account's attempts on this network "
                    "from an address it used only that once"),
        FeatureSpec("user_attempts_1h", "attempts on the account in the velocity window"),
        FeatureSpec("user_failures_1h", "failures on the account in the velocity window"),
        FeatureSpec("ip_attempts_1h", "attempts from this address in the velocity window"),
        FeatureSpec("ip_failures_1h", "failures from this address in the velocity window"),
        FeatureSpec("ip_users_1h", "accounts tried from this address in the velocity window"),
        FeatureSpec("device_users_1h", "accounts tried from this device in the velocity window"),
        FeatureSpec("device_users", "other accounts seen on this device"),
        FeatureSpec("ip_users", "other accounts seen on this address"),
        FeatureSpec("asn_users", "other accounts seen on this network"),
        FeatureSpec("device_neighbor_failure_rate", "failure rate of the device's other accounts"),
        FeatureSpec("ip_neighbor_failure_rate", "failure rate of the address's other accounts"),
        FeatureSpec("asn_neighbor_failure_rate", "failure rate of the network's other accounts"),
        FeatureSpec("asn_neighbors_1h", "other accounts on this network in the last hour"),
        FeatureSpec("asn_countries", "countries this network's logins came from"),
        FeatureSpec("hour_deviation", "hours from the user's usual time of day"),
        FeatureSpec("hour_share_2h", "share of the user's logins within 2 h of this time of day"),
        FeatureSpec("distance_km", "km from the user's last located login"),
        FeatureSpec("speed_kmh", "implied travel speed since the user's recent logins"),
        FeatureSpec("one_country_speed_kmh", "implied travel speed through a network seen from "
                    "one country only"),
        FeatureSpec("hosting_asn", "a cloud, hosting or VPN network"),
        FeatureSpec("device_type", "device type"),
        FeatureSpec("auth_method", "authentication method"),
        FeatureSpec("has_device_id", "the login carries a device fingerprint"),
        FeatureSpec("round_trip_ms", "round-trip time"),
    ]
    return tuple(specs)


FEATURES = _specs()
FEATURE_NAMES = tuple(spec.name for spec in FEATURES)


class DetectionFeatures:
    """Computes FEATURE_NAMES, in order, for one login. Holds only read-only tables."""

    def __init__(self) -> None:
        # The geo agent's tables, not the geo agent: its AEGIS_GEO_* settings are its own, and
        # a trained model's features must not change with another agent's settings.
        self.locator = Locator()
        self.hosting_asns = load_hosting_asns()

    def vector(self, event: LoginEvent, context: LoginContext) -> list[float]:
        """The features of `event` given its context; MISSING where a feature is undefined."""
        now = event.timestamp
        history = LoginHistory.of(context.history)
        own = successful_logins(history)
        values: list[float] = [
            len(own),
            len(history),
            float(context.history_truncated),
            _days(now - own.timestamp[-1]) if own else MISSING,
            (now - own.timestamp[0]) / _HOUR_S if own else MISSING,
            (now - history.timestamp[0]) / _HOUR_S if history else MISSING,
        ]
        own_devices = device_keys(own)
        values += _device_features(event, own, own_devices)
        values += [_share(f.extract(event), f, own) for f in VALUE_FEATURES]
        values += user_agent_builds(event, own)
        devices = Counter(own_devices)
        devices.pop("", None)
        recent = map(le, map(sub, repeat(now), own.timestamp), repeat(_RECENT_DEVICES_S))
        values += [
            len(devices),
            len(set(own.ip)),
            len(set(own.country) - {""}),
            max(devices.values()) / len(own) if devices else MISSING,
            len(set(compress(own_devices, recent)) - {""}),
        ]
        values += _failure_features(event, history)
        values += _address_features(event, history)
        velocity = context.velocity
        values += [
            velocity.user_attempts, velocity.user_failures, velocity.ip_attempts,
            velocity.ip_failures, velocity.ip_distinct_users, velocity.device_distinct_users,
            context.device_users, context.ip_users, context.asn_users,
        ]
        by_link: dict[LinkKind, list[Neighbor]] = {kind: [] for kind in LinkKind}
        for neighbor in context.neighbors:
            by_link[neighbor.link].append(neighbor)
        values += [_failure_rate(by_link[kind]) for kind in LinkKind]
        values.append(sum(now - n.last_seen <= _HOUR_S for n in by_link[LinkKind.ASN]))
        values.append(context.asn_countries)
        values += _hour_features(event, own)
        distance, speed = self._travel(event, own)
        # A network whose logins come from several countries (a VPN's exits) says little of
        # where its user is: the speed through it is kept apart from the speed through a
        # network that places its user (a home line, a carrier, a server in one country).
        spread = context.asn_countries > 1 and not math.isnan(speed)
        values += [distance, speed, 0.0 if spread else speed]
        values += [
            float(event.asn in self.hosting_asns),
            float(event.device_type),
            float(event.auth_method),
            float(bool(event.device_id)),
            MISSING if event.round_trip_time_ms is None else event.round_trip_time_ms,
        ]
        return [float(value) for value in values]

    def _travel(self, event: LoginEvent, own: LoginHistory) -> tuple[float, float]:
        """Distance from the last located login, and the fastest implied speed since the
        user's recent logins (net of location uncertainty, as the geo agent measures it)."""
        here = self.locator.locate(event)
        if here is None:
            return MISSING, MISSING
        located = list(itertools.islice(self.locator.located(own), _COMPARE_LAST))
        if not located:
            return MISSING, MISSING
        speeds = [
            here.clearance_km(there)
            / (max(event.timestamp - timestamp, MIN_TRAVEL_GAP_S) / _HOUR_S)
            for timestamp, there in located
        ]
        return here.distance_km(located[0][1]), max(speeds)


def _days(seconds: float) -> float:
    return seconds / _DAY_S


def _share(value: str, feature: Feature, own: LoginHistory) -> float:
    """Share of the user's logins with this value; MISSING without logins or value."""
    if not own or not value:
        return MISSING
    return feature.counts(own)[value] / len(own)


def _device_features(event: LoginEvent, own: LoginHistory,
                     own_devices: Sequence[str]) -> list[float]:
    """The device's features; a login without a fingerprint is compared by its user agent
    (attributes.device_key), as are past logins without one."""
    device = device_key(event.device_id, event.user_agent)
    # Per past login: from this device (never, when the login names none).
    here = list(map(eq, own_devices, repeat(device))) if device else [False] * len(own)
    on_device = sum(here)
    ip_seen = event.ip in own.ip
    if not device or not own:
        shared = MISSING
    elif on_device:
        other_ips = set(compress(own.ip, map(not_, here)))
        shared = sum(map(other_ips.__contains__, compress(own.ip, here))) / on_device
    else:
        shared = 0.0
    # A user agent copied onto another fingerprint: the same browser string keeps coming
    # from a device of the user's while this one is new to it (only a fingerprint can tell).
    same_agent = list(map(eq, own.user_agent, repeat(event.user_agent)))
    same_agent_logins = sum(same_agent)
    elsewhere = (
        sum(map(ne, compress(own.device_id, same_agent), repeat(event.device_id)))
        / same_agent_logins if same_agent_logins and event.device_id else MISSING
    )
    other = _first(map(not_, here)) if device else None
    return [
        on_device,
        on_device / len(own) if own and device else MISSING,
        # The oldest login from this device: the last one, most recent first.
        _days(event.timestamp - own.timestamp[len(here) - 1 - here[::-1].index(True)])
        if on_device else MISSING,
        float(event.ip in compress(own.ip, here)),
        shared,
        float(bool(own) and not on_device and not ip_seen),
        elsewhere,
        (event.timestamp - own.timestamp[other]) / _HOUR_S if other is not None else MISSING,
    ]


def _first(flags: Iterable[bool]) -> int | None:
    """The index of the first true flag, if any."""
    return next(compress(itertools.count(), flags), None)


def _failure_features(event: LoginEvent, history: LoginHistory) -> list[float]:
    within_day = map(le, map(sub, repeat(event.timestamp), history.timestamp), repeat(_DAY_S))
    recent = list(compress(history.login_successful, within_day))
    since_success = _first(history.login_successful)
    return [
        float(event.login_successful),
        event.failed_attempts_before,
        len(recent) - sum(recent),
        len(history) if since_success is None else since_success,
    ]


def _address_features(event: LoginEvent, history: LoginHistory) -> list[float]:
    """How the account's earlier attempts from this address went, and how steadily it has
    been used since it first appeared; MISSING for an address new to the account.

    Where the device is only its user-agent string (RBA-shaped logins), an attacker with the
    victim's exact browser in the victim's city differs by address alone, and an address
    seen before reads as the user's own by share. Two things still tell it: the attempts
    from it that failed (a guessed or phished password), and how it comes back - a new home
    address takes over the account's logins, an intruder's recurs between the user's own,
    whose earlier addresses stay in use (a share dilutes that in a busy account; the count of
    returns to them does not).
    """
    return [*_address_history(event, history), _one_off_share(event, history)]


def _address_history(event: LoginEvent, history: LoginHistory) -> list[float]:
    here = list(map(eq, history.ip, repeat(event.ip)))
    seen = sum(here)
    if not seen:
        return [MISSING, MISSING, MISSING]
    failed = seen - sum(compress(history.login_successful, here))
    # The oldest attempt from this address: the last one, most recent first.
    since_first = len(here) - here[::-1].index(True)
    earlier = set(history.ip[since_first:])
    earlier.discard(event.ip)
    rival_returns = sum(map(earlier.__contains__, history.ip[:since_first]))
    return [failed / seen, seen / since_first, rival_returns]


def _one_off_share(event: LoginEvent, history: LoginHistory) -> float:
    """A home connection keeps its address for weeks and a new one then takes over; an
    intruder who comes back through the victim's own provider brings another address each
    visit, and leaves a trail of addresses used once on that network. (A carrier's pool does
    so too, for phones: the device type and network tell those apart.)"""
    on_network = list(compress(history.ip, map(eq, history.asn, repeat(event.asn))))
    if not event.asn or not on_network:
        return MISSING
    uses = Counter(history.ip)
    return sum(uses[ip] == 1 for ip in on_network) / len(on_network)


def _failure_rate(neighbors: list[Neighbor]) -> float:
    logins = sum(n.logins for n in neighbors)
    return sum(n.failures for n in neighbors) / logins if logins else MISSING


def _hour_features(event: LoginEvent, own: LoginHistory) -> list[float]:
    """Circular distance in hours from the mean hour of the user's logins, and the share of
    them within two hours of this one (UTC: a habit is a habit in any time zone)."""
    if len(own) < 3:
        return [MISSING, MISSING]
    hour = _hour(event.timestamp)
    # _hour and _hour_gap over the column, by maps of C functions (the same float operations).
    hours = list(map(truediv, map(mod, own.timestamp, repeat(_DAY_S)), repeat(_HOUR_S)))
    angle = list(map(mul, map(mul, map(truediv, hours, repeat(24)), repeat(2)), repeat(math.pi)))
    mean = math.atan2(sum(map(math.sin, angle)), sum(map(math.cos, angle))) / (2 * math.pi) * 24
    gaps = list(map(mod, map(abs, map(sub, repeat(hour), hours)), repeat(24)))
    near = sum(map(le, map(min, gaps, map(sub, repeat(24), gaps)), repeat(2))) / len(hours)
    return [_hour_gap(hour, mean % 24), near]


def _hour(timestamp: float) -> float:
    return timestamp % _DAY_S / _HOUR_S


def _hour_gap(a: float, b: float) -> float:
    gap = abs(a - b) % 24
    return min(gap, 24 - gap)
