"""The detection features: defined from the event and its context alone, and meaning what
their names say."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from aegis_domain.convert import event_from_proto
from aegis_domain.types import (
    Action,
    LinkKind,
    LoginContext,
    LoginEvent,
    Neighbor,
    PastLogin,
    Velocity,
)
from aegis_lab.contexts import offline_contexts
from aegis_lab.world import WorldConfig, generate
from agent_services.detection_features import FEATURE_NAMES, DetectionFeatures
from audit_service.settings import AuditSettings

T = 1_700_000_000.0
HOUR = 3600.0
FEATURES = DetectionFeatures()


def login(n: int, at: float, **fields: object) -> LoginEvent:
    values: dict[str, object] = {
        "event_id": f"e{n}", "timestamp": at, "user_id": "alice", "ip": "81.166.1.2",
        "device_id": "phone", "country": "NO", "region": "Oslo", "city": "Oslo", "asn": 29695,
        "user_agent": "Mozilla/5.0 (iPhone)", "browser": "Mobile Safari 17.1", "os": "iOS 17.1",
        "login_successful": True, "latitude": 59.91, "longitude": 10.75,
        "accuracy_radius_km": 10.0,
    } | fields
    return LoginEvent(**values)  # type: ignore[arg-type]


def named(event: LoginEvent, context: LoginContext) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, FEATURES.vector(event, context), strict=True))


def history(*events: LoginEvent) -> LoginContext:
    return LoginContext(history=[PastLogin(e, Action.ALLOW, 0.0) for e in reversed(events)])


def test_one_value_per_named_feature_and_missing_where_undefined() -> None:
    values = named(login(1, T), LoginContext())
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES)) == len(values)
    assert values["own_logins"] == 0
    assert math.isnan(values["device_share"]) and math.isnan(values["speed_kmh"])


def test_novelty_of_device_and_address_for_the_user() -> None:
    past = history(*(login(i, T - (10 - i) * HOUR) for i in range(6)))
    known = named(login(9, T), past)
    assert known["device_seen"] == 6 and known["device_share"] == 1.0
    assert known["ip_share"] == 1.0 and known["new_device_new_ip"] == 0.0
    stranger = named(login(9, T, device_id="laptop-x", ip="5.6.7.8"), past)
    assert stranger["device_seen"] == 0 and stranger["ip_share"] == 0.0
    assert stranger["new_device_new_ip"] == 1.0


def test_an_impossible_journey_shows_as_speed() -> None:
    past = history(login(1, T - HOUR))
    far = named(login(2, T, latitude=-23.55, longitude=-46.63, country="BR"), past)
    assert far["distance_km"] > 10_000
    assert far["speed_kmh"] > 5_000
    assert far["country_share"] == 0.0


def test_an_impossible_journey_through_a_many_country_network_is_kept_apart() -> None:
    """A VPN's exits in several countries do not place its user: the speed through such a
    network reads apart from the speed through one that does."""
    past = history(login(1, T - HOUR))
    journey = login(2, T, latitude=-23.55, longitude=-46.63, country="BR")
    placed = named(journey, replace(past, asn_countries=1))
    spread = named(journey, replace(past, asn_countries=4))
    assert placed["one_country_speed_kmh"] == placed["speed_kmh"] > 5_000
    assert spread["one_country_speed_kmh"] == 0.0 and spread["speed_kmh"] > 5_000
    assert math.isnan(named(journey, replace(history(), asn_countries=4))[
        "one_country_speed_kmh"])


def test_failures_velocity_and_neighbourhood_come_from_the_context() -> None:
    failures = [login(i, T - 60 * (5 - i), login_successful=False) for i in range(3)]
    context = history(login(0, T - 2 * HOUR), *failures)
    context.velocity = Velocity(user_attempts=3, user_failures=3, ip_attempts=40,
                                ip_failures=38, ip_distinct_users=30)
    context.neighbors = [Neighbor(LinkKind.IP, f"u{i}", logins=2, failures=2, flagged=0,
                                  max_risk=0.0, last_seen=T - 10) for i in range(4)]
    context.ip_users = 30
    values = named(login(9, T, failed_attempts_before=3), context)
    assert values["failures_since_success"] == 3 and values["failures_24h"] == 3
    assert values["ip_users_1h"] == 30 and values["ip_users"] == 30
    assert values["ip_neighbor_failure_rate"] == 1.0


def test_features_read_nothing_a_decision_wrote() -> None:
    world = [event_from_proto(g.event) for g in generate(WorldConfig(users=8, events=300, seed=3))]
    pairs = list(offline_contexts(world, AuditSettings().context_bounds()))[-40:]
    for event, context in pairs:
        before = FEATURES.vector(event, context)
        for past in context.history:
            past.action, past.risk = Action.BLOCK_TEMPORARY, 0.99
        for neighbor in context.neighbors:
            neighbor.flagged, neighbor.max_risk = neighbor.logins, 0.99
        np.testing.assert_array_equal(FEATURES.vector(event, context), before)


def test_without_a_fingerprint_the_user_agent_names_the_device() -> None:
    """RBA-shaped logins carry no device id: the user's own browser string still reads as
    their device, a new one as a new device (not every login as new)."""
    bare = {"device_id": "", "latitude": None, "longitude": None, "accuracy_radius_km": None}
    past = history(*(login(i, T - (10 - i) * HOUR, **bare) for i in range(6)))

    own = named(login(9, T, ip="10.9.9.9", **bare), past)
    new = named(login(9, T, ip="10.9.9.9", user_agent="Mozilla/5.0 (Windows NT 10.0)",
                      **bare), past)

    assert own["device_seen"] == 6 and own["device_share"] == 1.0
    assert own["new_device_new_ip"] == 0.0 and own["distinct_devices"] == 1
    assert new["device_seen"] == 0 and new["new_device_new_ip"] == 1.0
    # Whether a user agent moved to another fingerprint: only a fingerprint can tell.
    assert math.isnan(own["user_agent_elsewhere"]) and own["has_device_id"] == 0.0


def test_a_user_agent_one_number_off_the_users_own_reads_as_near_not_new() -> None:
    """A look-alike build (the user's browser string with one number changed, the same parsed
    browser) is told apart from the user's own string and from another browser altogether,
    and still on its second visit, when its first is in the history."""
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/126.0.6478.126 Safari/537.36")
    own_build = {"user_agent": chrome, "browser": "Chrome 126.0.6478", "os": "Windows 10"}
    near_build = own_build | {"user_agent": chrome.replace("Safari/537.36", "Safari/537.38")}
    own_logins = [login(i, T - (10 - i) * HOUR, **own_build) for i in range(6)]
    past = history(*own_logins)

    own = named(login(9, T, **own_build), past)
    near = named(login(9, T, **near_build), past)
    again = named(login(9, T, **near_build), history(*own_logins, login(7, T - HOUR, **near_build)))
    other = named(login(9, T, user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/"
                        "20100101 Firefox/128.0", browser="Firefox 128.0", os="Linux"), past)

    assert own["build_elsewhere_share"] == 0.0 and math.isnan(own["user_agent_numbers_changed"])
    assert near["build_elsewhere_share"] == 1.0 and near["user_agent_numbers_changed"] == 1
    assert again["build_elsewhere_share"] == 6 / 7 and again["user_agent_numbers_changed"] == 1
    assert other["build_elsewhere_share"] == 0.0
    assert math.isnan(other["user_agent_numbers_changed"])


def test_an_address_that_recurs_between_the_users_own_reads_apart_from_a_new_home() -> None:
    """The user's exact browser from an address seen before: a new home address carries the
    logins since it appeared, an intruder's comes back between the user's own, and the
    attempts that failed from an address count against it."""
    bare = {"device_id": ""}
    home = [login(i, T - (20 - i) * HOUR, **bare) for i in range(4)]
    moved = [login(4 + i, T - (10 - i) * HOUR, ip="81.166.9.9", **bare) for i in range(4)]
    guessed = [login(4, T - 15 * HOUR, ip="5.6.7.8", login_successful=False, **bare),
               login(5, T - 14 * HOUR, ip="5.6.7.8", **bare)]
    back_home = [login(6 + i, T - (10 - i) * HOUR, **bare) for i in range(4)]

    new_home = named(login(9, T, ip="81.166.9.9", **bare), history(*home, *moved))
    intruder = named(login(9, T, ip="5.6.7.8", **bare), history(*home, *guessed, *back_home))
    first = named(login(9, T, ip="7.7.7.7", **bare), history(*home))

    assert new_home["address_return_share"] == 1.0
    assert new_home["address_failure_share"] == 0.0
    assert intruder["address_return_share"] == 2 / 6
    assert intruder["address_failure_share"] == 0.5
    assert math.isnan(first["address_return_share"])
    assert math.isnan(first["address_failure_share"])
    # The user's own earlier address stays in use after the intruder's appeared; a home
    # address that changed is never used again.
    assert intruder["address_rival_returns"] == 4
    assert new_home["address_rival_returns"] == 0
    assert math.isnan(first["address_rival_returns"])


def test_a_trail_of_addresses_used_once_on_the_users_network_shows() -> None:
    """A home address that changed once leaves no address used once; an intruder coming back
    through the user's own provider with another address each visit does."""
    bare = {"device_id": ""}
    moved = [login(i, T - (20 - i) * HOUR, ip="81.166.1.2" if i < 4 else "81.166.9.9", **bare)
             for i in range(8)]
    visited = [login(i, T - (20 - i) * HOUR, ip=f"81.166.7.{i}" if i in (2, 5) else "81.166.1.2",
                     **bare) for i in range(8)]

    assert named(login(9, T, ip="81.166.3.3", **bare), history(*moved))[
        "network_one_off_share"] == 0.0
    assert named(login(9, T, ip="81.166.3.3", **bare), history(*visited))[
        "network_one_off_share"] == 2 / 8
    assert math.isnan(named(login(9, T, ip="5.6.7.8", asn=64500, **bare), history(*moved))[
        "network_one_off_share"])
