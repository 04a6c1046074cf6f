"""Geo agent on crafted histories: travel speed net of location uncertainty, countries, ASNs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from aegis_domain.countries import load_countries
from aegis_domain.geo_data import haversine_km
from aegis_domain.types import Action, AgentSignal, LoginContext, LoginEvent, PastLogin
from agent_services.geo import (
    FREQUENT_COUNTRY_CHANGES,
    HOSTING_ASN,
    IMPOSSIBLE_TRAVEL,
    NEW_COUNTRY,
    GeoAgent,
    GeoSettings,
    make_agent,
)
from agent_services.history import NO_HISTORY

NOW = 1_780_000_000.0
HOUR = 3600.0
DAY = 24 * HOUR

# Precise positions (city-level geolocation with a 10 km radius).
LONDON: dict[str, Any] = {
    "latitude": 51.5074,
    "longitude": -0.1278,
    "accuracy_radius_km": 10.0,
    "country": "GB",
}
NEW_YORK: dict[str, Any] = {
    "latitude": 40.7128,
    "longitude": -74.0060,
    "accuracy_radius_km": 10.0,
    "country": "US",
}
PARIS: dict[str, Any] = {
    "latitude": 48.8566,
    "longitude": 2.3522,
    "accuracy_radius_km": 10.0,
    "country": "FR",
}
MADRID: dict[str, Any] = {
    "latitude": 40.4168,
    "longitude": -3.7038,
    "accuracy_radius_km": 10.0,
    "country": "ES",
}


@pytest.fixture(scope="module")
def agent() -> GeoAgent:
    return GeoAgent(GeoSettings())


def login(ago_s: float, successful: bool = True, **where: Any) -> LoginEvent:
    return LoginEvent(
        event_id=f"ev-{ago_s}",
        timestamp=NOW - ago_s,
        user_id="alice",
        ip="81.2.69.160",
        login_successful=successful,
        **where,
    )


def history(*logins: LoginEvent, action: Action = Action.ALLOW) -> LoginContext:
    """Most recent first, as the audit service returns it."""
    ordered = sorted(logins, key=lambda e: e.timestamp, reverse=True)
    return LoginContext(history=[PastLogin(event=e, action=action, risk=0.0) for e in ordered])


def daily_logins(days: int, **where: Any) -> list[LoginEvent]:
    return [login(d * DAY, **where) for d in range(1, days + 1)]


def codes(signal: AgentSignal) -> list[str]:
    return [r.code for r in signal.reasons]


def reason(signal: AgentSignal, code: str):
    return next(r for r in signal.reasons if r.code == code)


def test_london_then_new_york_one_hour_later_is_impossible_travel(agent: GeoAgent) -> None:
    context = history(*daily_logins(10, **LONDON), login(1 * HOUR, **LONDON))
    signal = agent.assess(login(0, **NEW_YORK), context)

    assert codes(signal)[0] == IMPOSSIBLE_TRAVEL
    assert signal.risk > 0.9
    assert signal.confidence > 0.7
    message = reason(signal, IMPOSSIBLE_TRAVEL).message
    assert "5570 km" in message  # London-New York great circle
    assert "1.0 h" in message
    assert "km/h" in message
    assert "limit 1000 km/h" in message


def test_london_then_paris_three_hours_later_is_plausible(agent: GeoAgent) -> None:
    context = history(*daily_logins(10, **LONDON), login(3 * HOUR, **LONDON))
    signal = agent.assess(login(0, **PARIS), context)

    assert IMPOSSIBLE_TRAVEL not in codes(signal)
    assert signal.risk < 0.45  # below the default policy's challenge threshold


def test_same_country_coarse_positions_minutes_apart_are_fine(agent: GeoAgent) -> None:
    # Country-only positions: two US logins from opposite coasts look identical, and must
    # not be read as zero-distance proof of anything either way.
    context = history(*daily_logins(10, country="US"), login(5 * 60, country="US"))
    signal = agent.assess(login(0, country="US"), context)

    assert codes(signal) == []
    assert signal.risk == pytest.approx(GeoSettings().base_risk)


@pytest.mark.parametrize(("before", "now"), [("DE", "AT"), ("BE", "NL"), ("FR", "CH")])
def test_neighbouring_countries_minutes_apart_are_not_impossible_travel(
    agent: GeoAgent, before: str, now: str
) -> None:
    context = history(*daily_logins(5, country=before), login(10 * 60, country=before))
    signal = agent.assess(login(0, country=now), context)

    assert IMPOSSIBLE_TRAVEL not in codes(signal)


def test_precise_positions_catch_what_coarse_ones_cannot(agent: GeoAgent) -> None:
    # Paris -> Madrid (~1050 km) in 30 minutes: impossible when both points are known to
    # 10 km, undecidable when all we know is "France" then "Spain" (the circles overlap).
    precise = agent.assess(
        login(0, **MADRID), history(*daily_logins(3, **PARIS), login(30 * 60, **PARIS))
    )
    coarse = agent.assess(
        login(0, country="ES"),
        history(*daily_logins(3, country="FR"), login(30 * 60, country="FR")),
    )

    assert IMPOSSIBLE_TRAVEL in codes(precise)
    assert IMPOSSIBLE_TRAVEL not in codes(coarse)
    assert precise.confidence > coarse.confidence


def test_a_wide_accuracy_radius_is_subtracted_from_the_distance(agent: GeoAgent) -> None:
    vague_paris = {**PARIS, "accuracy_radius_km": 600.0}
    vague_madrid = {**MADRID, "accuracy_radius_km": 600.0}
    signal = agent.assess(login(0, **vague_madrid), history(login(30 * 60, **vague_paris)))

    assert IMPOSSIBLE_TRAVEL not in codes(signal)


def test_a_position_without_accuracy_gets_the_default_radius(agent: GeoAgent) -> None:
    # ~60 km in 2 minutes: 1800 km/h between two exact points, nothing at all once each
    # point is taken as the 50 km circle that city-level geolocation really gives.
    lyon: dict[str, Any] = {"latitude": 45.764, "longitude": 4.8357, "country": "FR"}
    ain: dict[str, Any] = {"latitude": 45.9, "longitude": 5.6, "country": "FR"}
    context = history(login(2 * 60, **lyon))
    exact = GeoAgent(GeoSettings(default_accuracy_km=0.0))

    assert IMPOSSIBLE_TRAVEL not in codes(agent.assess(login(0, **ain), context))
    assert IMPOSSIBLE_TRAVEL in codes(exact.assess(login(0, **ain), context))


def test_tiny_time_gaps_are_tolerated(agent: GeoAgent) -> None:
    same_place = agent.assess(login(0, **LONDON), history(login(0.0, **LONDON)))
    far_same_second = agent.assess(login(0, **NEW_YORK), history(login(0.0, **LONDON)))

    assert IMPOSSIBLE_TRAVEL not in codes(same_place)
    assert IMPOSSIBLE_TRAVEL in codes(far_same_second)
    assert math.isfinite(far_same_second.risk) and far_same_second.risk <= 1.0
    assert "0 min" in reason(far_same_second, IMPOSSIBLE_TRAVEL).message


def test_the_fastest_of_the_recent_logins_counts(agent: GeoAgent) -> None:
    # The latest login has no location at all; the one before it still rules out New York.
    context = history(login(30 * 60), login(1 * HOUR, **LONDON))
    signal = agent.assess(login(0, **NEW_YORK), context)

    assert IMPOSSIBLE_TRAVEL in codes(signal)


def test_failed_and_blocked_attempts_do_not_place_the_user(agent: GeoAgent) -> None:
    # An attacker failing from New York ten minutes ago must not make the real user's
    # London login look like impossible travel.
    own = daily_logins(5, **LONDON)
    failed = history(*own, login(10 * 60, successful=False, **NEW_YORK))
    blocked = LoginContext(
        history=[
            PastLogin(event=login(10 * 60, **NEW_YORK), action=Action.BLOCK_TEMPORARY, risk=0.9),
            *history(*own).history,
        ]
    )

    assert IMPOSSIBLE_TRAVEL not in codes(agent.assess(login(0, **LONDON), failed))
    assert IMPOSSIBLE_TRAVEL not in codes(agent.assess(login(0, **LONDON), blocked))


def test_first_seen_country(agent: GeoAgent) -> None:
    context = history(*daily_logins(20, country="GB"))

    distant = agent.assess(login(0, country="NG"), context)
    neighbour = agent.assess(login(0, country="IE"), context)
    familiar = agent.assess(login(0, country="GB"), context)

    assert NEW_COUNTRY in codes(distant)
    assert "Nigeria" in reason(distant, NEW_COUNTRY).message
    assert "20 earlier logins came from GB" in reason(distant, NEW_COUNTRY).message
    assert reason(distant, NEW_COUNTRY).weight > reason(neighbour, NEW_COUNTRY).weight
    assert NEW_COUNTRY not in codes(familiar)
    assert distant.risk > familiar.risk


def test_a_new_country_surprises_less_for_a_traveller(agent: GeoAgent) -> None:
    homebody = history(*daily_logins(12, country="GB"))
    traveller = history(
        *[login(d * DAY, country=c) for d, c in enumerate(["GB", "US", "JP", "BR"] * 3, start=1)]
    )

    at_home = reason(agent.assess(login(0, country="KE"), homebody), NEW_COUNTRY).weight
    abroad = reason(agent.assess(login(0, country="KE"), traveller), NEW_COUNTRY).weight
    assert abroad < at_home


def test_frequent_country_changes(agent: GeoAgent) -> None:
    hopping = history(
        *[login(d * HOUR * 12, country=c) for d, c in enumerate(["DE", "NL", "FR", "BE"] * 2, 1)]
    )
    steady = history(*daily_logins(8, country="DE"))

    signal = agent.assess(login(0, country="NL"), hopping)
    assert FREQUENT_COUNTRY_CHANGES in codes(signal)
    assert "8 times in the last 9 logins" in reason(signal, FREQUENT_COUNTRY_CHANGES).message
    assert FREQUENT_COUNTRY_CHANGES not in codes(agent.assess(login(0, country="DE"), steady))


def test_hosting_network(agent: GeoAgent) -> None:
    context = history(*daily_logins(5, country="DE"))

    signal = agent.assess(login(0, country="DE", asn=14061), context)
    assert codes(signal) == [HOSTING_ASN]
    assert "DigitalOcean" in signal.reasons[0].message
    assert HOSTING_ASN not in codes(agent.assess(login(0, country="DE", asn=3320), context))


def test_new_user_gets_low_confidence_not_high_risk(agent: GeoAgent) -> None:
    signal = agent.assess(login(0, **NEW_YORK), LoginContext())

    assert codes(signal) == [NO_HISTORY]
    assert signal.risk < 0.1
    assert signal.confidence <= 0.1


def test_confidence_grows_with_history(agent: GeoAgent) -> None:
    event = login(0, **LONDON)
    one = agent.assess(event, history(*daily_logins(1, **LONDON)))
    many = agent.assess(event, history(*daily_logins(20, **LONDON)))

    assert 0.1 < one.confidence < many.confidence <= 1.0


def test_unknown_location_is_judged_with_less_confidence(agent: GeoAgent) -> None:
    context = history(*daily_logins(10, **LONDON))

    located = agent.assess(login(0, **LONDON), context)
    unknown = agent.assess(login(0), context)
    assert unknown.confidence < located.confidence


def test_thresholds_come_from_the_environment(
    agent: GeoAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEGIS_GEO_MAX_SPEED_KMH", "10000")
    lenient = make_agent(Path("unused"))
    context = history(login(1 * HOUR, **LONDON))

    assert lenient.settings.max_speed_kmh == 10000
    assert IMPOSSIBLE_TRAVEL not in codes(lenient.assess(login(0, **NEW_YORK), context))
    # Different thresholds, different verdicts: the version must tell them apart.
    assert lenient.version != agent.version


def test_country_table_covers_the_common_countries() -> None:
    countries = load_countries()
    # fmt: off
    g20 = ["AR", "AU", "BR", "CA", "CN", "DE", "FR", "GB", "ID", "IN", "IT", "JP", "KR", "MX",
           "RU", "SA", "TR", "US", "ZA"]
    eu = ["AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
          "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"]
    # fmt: on

    assert len(countries) >= 120
    assert set(g20 + eu) <= set(countries)
    assert all(0 < c.radius_km <= 5000 for c in countries.values())


def test_haversine_distance() -> None:
    london_new_york = haversine_km(51.5074, -0.1278, 40.7128, -74.0060)

    assert london_new_york == pytest.approx(5570, abs=10)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * 6371.0088)
    assert haversine_km(10, 10, 10, 10) == 0.0


def test_a_new_country_on_the_users_own_phone_counts_less(agent: GeoAgent) -> None:
    """A trip (or a VPN) on the phone the user always logs in from, at a possible speed, is
    more likely the user than a takeover; without a fingerprint the user agent names the
    device (RBA-shaped logins)."""
    phone: dict[str, Any] = {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1)"}
    context = history(*daily_logins(20, country="GB", **phone))

    own = agent.assess(login(0, country="NG", **phone), context)
    other = agent.assess(login(0, country="NG", user_agent="Mozilla/5.0 (Windows NT 10.0)"),
                         context)

    assert reason(own, NEW_COUNTRY).weight == pytest.approx(
        reason(other, NEW_COUNTRY).weight * GeoSettings().own_device_factor)
    assert "device the user has logged in from before" in reason(own, NEW_COUNTRY).message
    assert own.risk < other.risk


def test_impossible_travel_on_the_users_own_device_is_not_discounted(agent: GeoAgent) -> None:
    """A stolen session replayed far away minutes later shows the victim's own browser."""
    phone: dict[str, Any] = {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1)",
                             "device_id": "d1"}
    context = history(login(HOUR / 6, **LONDON, **phone), *daily_logins(5, **LONDON, **phone))

    replayed = agent.assess(login(0, **NEW_YORK, **phone), context)

    assert IMPOSSIBLE_TRAVEL in codes(replayed)
    assert all("logged in from before" not in r.message for r in replayed.reasons)


def test_impossible_travel_to_a_country_the_user_keeps_returning_to_counts_less(
    agent: GeoAgent,
) -> None:
    """A user whose own device keeps showing up in two far-apart countries (a second home, the
    exit of their own VPN) is no takeover when it jumps between them again; a stranger's
    device there, or the same jump to a country new to the user, keeps the full risk."""
    phone: dict[str, Any] = {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1)",
                             "device_id": "d1"}
    settings = GeoSettings()
    back_and_forth = [login(d * DAY + (HOUR if d % 2 else 0), **(NEW_YORK if d % 2 else LONDON),
                            **phone) for d in range(1, 2 * settings.familiar_country_logins + 1)]
    context = history(login(HOUR / 6, **LONDON, **phone), *back_and_forth)

    returning = agent.assess(login(0, **NEW_YORK, **phone), context)
    stranger = agent.assess(login(0, **NEW_YORK, device_id="d2"), context)
    first_time = agent.assess(login(0, **MADRID, **phone),
                              history(login(HOUR / 6, **LONDON, **phone), *back_and_forth))

    assert reason(returning, IMPOSSIBLE_TRAVEL).weight == pytest.approx(
        reason(stranger, IMPOSSIBLE_TRAVEL).weight * settings.own_device_factor)
    assert "often logs in from" in reason(returning, IMPOSSIBLE_TRAVEL).message
    assert returning.risk < settings.impossible_travel_risk <= stranger.risk
    assert IMPOSSIBLE_TRAVEL in codes(first_time)
    assert first_time.risk >= settings.impossible_travel_risk


def test_impossible_travel_through_the_users_own_vpn_counts_less(agent: GeoAgent) -> None:
    """A VPN's exit is where its servers are: the user's own phone jumping to the exit of a
    hosting network it has logged in through before is their VPN; through a hosting network
    new to the user it is what a stolen session looks like."""
    phone: dict[str, Any] = {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1)",
                             "device_id": "d1"}
    vpn_before = login(3 * DAY, **{**PARIS, "asn": 9009}, **phone)
    context = history(login(HOUR / 6, **LONDON, **phone), vpn_before,
                      *daily_logins(5, **LONDON, **phone))

    own_vpn = agent.assess(login(0, **{**NEW_YORK, "asn": 9009}, **phone), context)
    other_network = agent.assess(login(0, **{**NEW_YORK, "asn": 212238}, **phone), context)

    assert "VPN's exit" in reason(own_vpn, IMPOSSIBLE_TRAVEL).message
    assert reason(own_vpn, IMPOSSIBLE_TRAVEL).weight == pytest.approx(
        reason(other_network, IMPOSSIBLE_TRAVEL).weight * GeoSettings().own_device_factor)
    assert own_vpn.risk < GeoSettings().impossible_travel_risk <= other_network.risk


def test_impossible_travel_through_a_network_seen_from_many_countries_counts_less(
    agent: GeoAgent,
) -> None:
    """A network whose logins come from many countries is a commercial VPN's exits, listed or
    not: the user's own phone switching it on jumps to the exit. The same jump through a
    network seen from one country (a rented server, a home connection) keeps the full risk,
    and so does a stranger's device through the VPN."""
    phone: dict[str, Any] = {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1)",
                             "device_id": "d1"}
    settings = GeoSettings()
    logins = (login(HOUR, **LONDON, **phone), *daily_logins(5, **LONDON, **phone))

    def seen_from(countries: int) -> LoginContext:
        context = history(*logins)
        context.asn_countries = countries
        return context

    exit_ = login(0, **{**NEW_YORK, "asn": 64_777}, **phone)
    vpn = agent.assess(exit_, seen_from(settings.vpn_network_countries))
    one_country = agent.assess(exit_, seen_from(1))
    stranger = agent.assess(login(0, **{**NEW_YORK, "asn": 64_777}, device_id="d2"),
                            seen_from(settings.vpn_network_countries))

    assert "countries (a VPN's exits" in reason(vpn, IMPOSSIBLE_TRAVEL).message
    assert reason(vpn, IMPOSSIBLE_TRAVEL).weight == pytest.approx(
        reason(one_country, IMPOSSIBLE_TRAVEL).weight * settings.own_device_factor)
    assert vpn.risk < settings.impossible_travel_risk <= one_country.risk
    assert stranger.risk >= settings.impossible_travel_risk
