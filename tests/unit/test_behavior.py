"""Behavior agent on crafted histories: the user's own baseline against an attacker."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from aegis_domain.login_history import LoginHistory
from aegis_domain.types import (
    Action,
    AgentSignal,
    DeviceType,
    LoginContext,
    LoginEvent,
    PastLogin,
)
from aegis_runtime.artifacts import ArtifactError
from agent_services.attributes import feature_values
from agent_services.behavior import BehaviorAgent, BehaviorSettings
from agent_services.behavior_population import POPULATION_FILE
from agent_services.history import NO_HISTORY, own_logins

NOW = 1_780_000_000.0
DAY = 86_400.0

USUAL: dict[str, Any] = {
    "ip": "81.2.69.160",
    "asn": 2856,
    "country": "GB",
    "region": "England",
    "city": "London",
    "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/120.0 Safari/537.36",
    "browser": "Chrome 120.0.6099",
    "os": "Mac OS X 10.15.7",
    "device_type": DeviceType.DESKTOP,
}
ATTACKER: dict[str, Any] = {
    "ip": "185.220.101.4",
    "asn": 60117,
    "country": "DE",
    "region": "Hesse",
    "city": "Frankfurt",
    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/119.0 Safari/537.36",
}


def login(ago_s: float, successful: bool = True, **overrides: Any) -> LoginEvent:
    fields: dict[str, Any] = {**USUAL, **overrides}
    return LoginEvent(
        event_id=f"ev-{ago_s}",
        timestamp=NOW - ago_s,
        user_id="alice",
        login_successful=successful,
        **fields,
    )


def stable_history(logins: int = 37) -> list[PastLogin]:
    """Daily logins at the same time of day from the same place and browser."""
    return [
        PastLogin(event=login(d * DAY), action=Action.ALLOW, risk=0.01)
        for d in range(1, logins + 1)
    ]


@pytest.fixture
def agent(tmp_path: Path) -> BehaviorAgent:
    built = BehaviorAgent(tmp_path)
    built.load()
    return built


def codes(signal: AgentSignal) -> list[str]:
    return [r.code for r in signal.reasons]


def test_usual_login_of_a_stable_user_is_low_risk(agent: BehaviorAgent) -> None:
    signal = agent.assess(login(0), LoginContext(history=stable_history()))

    assert signal.risk < 0.001
    assert signal.confidence > 0.7
    assert signal.reasons == []


def test_new_network_country_and_browser_is_high_risk(agent: BehaviorAgent) -> None:
    signal = agent.assess(login(0, **ATTACKER), LoginContext(history=stable_history()))

    assert signal.risk > 0.9
    assert signal.confidence > 0.7
    assert {"UNUSUAL_ASN", "UNUSUAL_COUNTRY", "UNUSUAL_USER_AGENT"} <= set(codes(signal))
    messages = {r.code: r.message for r in signal.reasons}
    assert messages["UNUSUAL_ASN"] == "ASN 60117 never seen for this user in 37 logins"
    assert messages["UNUSUAL_COUNTRY"] == "country DE never seen for this user in 37 logins"
    assert sum(r.weight for r in signal.reasons) <= signal.risk + 1e-9
    assert len(signal.reasons) <= BehaviorSettings().max_reasons


def test_a_value_seen_before_is_less_suspicious(agent: BehaviorAgent) -> None:
    history = stable_history(30)
    history[10] = PastLogin(event=login(11 * DAY, **ATTACKER), action=Action.ALLOW, risk=0.0)

    once = agent.assess(login(0, **ATTACKER), LoginContext(history=history))
    never = agent.assess(login(0, **ATTACKER), LoginContext(history=stable_history(30)))

    assert once.risk < never.risk


def test_a_rarely_used_value_is_named_with_its_count(tmp_path: Path) -> None:
    # A device type has few values: one phone login in 30 is weak evidence, reported only
    # when the reporting threshold is low.
    sensitive = BehaviorAgent(tmp_path, BehaviorSettings(reason_min_log_lr=0.1))
    history = stable_history(30)
    history[10] = PastLogin(
        event=login(11 * DAY, device_type=DeviceType.MOBILE), action=Action.ALLOW, risk=0.0
    )

    signal = sensitive.assess(
        login(0, device_type=DeviceType.MOBILE), LoginContext(history=history)
    )

    messages = {r.code: r.message for r in signal.reasons}
    assert messages == {
        "UNUSUAL_DEVICE_TYPE": "device type MOBILE seen in only 1 of this user's 30 logins"
    }


def test_a_same_device_traveller_is_not_an_attacker(agent: BehaviorAgent) -> None:
    # Same browser, OS and device, a new network abroad: the device vouches for the user.
    abroad = {k: v for k, v in ATTACKER.items() if k != "user_agent"}
    signal = agent.assess(login(0, **abroad), LoginContext(history=stable_history()))

    assert signal.risk < 0.1


def test_new_user_gets_the_prior_at_zero_confidence(agent: BehaviorAgent) -> None:
    signal = agent.assess(login(0, **ATTACKER), LoginContext())

    assert signal.confidence == 0.0
    assert signal.risk == pytest.approx(BehaviorSettings().prior_risk)
    assert codes(signal) == [NO_HISTORY]


def test_confidence_grows_with_history(agent: BehaviorAgent) -> None:
    few = agent.assess(login(0), LoginContext(history=stable_history(2)))
    many = agent.assess(login(0), LoginContext(history=stable_history(100)))

    assert 0 < few.confidence < 0.5 < many.confidence < 1


def test_smoothing_keeps_risk_finite(tmp_path: Path) -> None:
    # No cap worth the name and a long history: every new value is as strong as it gets.
    extreme = BehaviorAgent(tmp_path, BehaviorSettings(max_feature_log_lr=50))
    history = LoginContext(history=stable_history(500))
    everything_new = login(
        0.5 * DAY, **ATTACKER, browser="Firefox 121", os="Windows 11", device_type=DeviceType.BOT
    )

    for event in (login(0), everything_new):
        signal = extreme.assess(event, history)
        assert math.isfinite(signal.risk) and 0.0 <= signal.risk <= 1.0
        assert all(math.isfinite(r.weight) for r in signal.reasons)
    one_login = extreme.assess(everything_new, LoginContext(history=stable_history(1)))
    assert 0.0 < one_login.risk < 1.0


def test_a_user_whose_ip_always_changes_is_not_surprised_by_a_new_one(
    agent: BehaviorAgent,
) -> None:
    roaming = [
        PastLogin(event=login(d * DAY, ip=f"10.0.{d}.1"), action=Action.ALLOW, risk=0.0)
        for d in range(1, 38)
    ]
    event = login(0, ip="10.0.99.1")

    fixed_ip = agent.evidence(event, LoginHistory.from_logins(stable_history()))[0]
    roaming_ip = agent.evidence(event, LoginHistory.from_logins(roaming))[0]
    assert fixed_ip.feature.name == roaming_ip.feature.name == "ip"
    assert roaming_ip.log_lr < fixed_ip.log_lr


def test_failed_and_blocked_attempts_are_not_the_users_baseline(agent: BehaviorAgent) -> None:
    # The attacker has been trying from the same place for days: that must not make the
    # place familiar.
    attempts = [
        PastLogin(
            event=login(d * DAY + 60, successful=False, **ATTACKER), action=Action.ALLOW, risk=0
        )
        for d in range(1, 10)
    ] + [
        PastLogin(event=login(d * DAY + 120, **ATTACKER), action=Action.BLOCK_TEMPORARY, risk=0.9)
        for d in range(1, 10)
    ]
    history = sorted([*stable_history(), *attempts], key=lambda p: p.event.timestamp, reverse=True)

    with_attempts = agent.assess(login(0, **ATTACKER), LoginContext(history=history))
    without = agent.assess(login(0, **ATTACKER), LoginContext(history=stable_history()))
    assert with_attempts.risk == pytest.approx(without.risk)


def test_feature_values_drop_versions_and_qualify_places() -> None:
    values = feature_values(login(0, device_type=DeviceType.UNSPECIFIED, asn=0))

    assert values["browser"] == "Chrome"
    assert values["os"] == "Mac OS X"
    assert values["city"] == "GB/England/London"
    assert values["region"] == "GB/England"
    assert "device_type" not in values and "asn" not in values
    assert values["hour"].endswith("UTC")


def write_population(model_dir: Path, document: object) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / POPULATION_FILE).write_text(json.dumps(document))


def test_the_agent_reads_no_labels_a_network_new_to_the_user_is_unusual_however_common(
    tmp_path: Path, agent: BehaviorAgent
) -> None:
    """The attacker is anyone but the user: a population file's counts of labelled attacks
    (as trainers once wrote) move nothing, a network the user never used counts against the
    login as much when it is everyday for others as when it is rare, and without history
    nothing is unusual."""
    features = {"asn": {"60117": 50, "2856": 5000, "3320": 4000}}
    labelled = {"model_version": "pop-test", "features": features,
                "attack": {"asn": {"3320": 400}}}
    write_population(tmp_path / "labelled", labelled)
    write_population(tmp_path / "plain", {"model_version": "pop-test", "features": features})
    trained, plain = BehaviorAgent(tmp_path / "labelled"), BehaviorAgent(tmp_path / "plain")
    trained.load()
    plain.load()
    context = LoginContext(history=stable_history())

    own = own_logins(LoginHistory.of(context.history))

    def asn_evidence(agent: BehaviorAgent, asn: int) -> float:
        return next(e.log_lr for e in agent.evidence(login(0, asn=asn), own)
                    if e.feature.name == "asn")

    common = trained.assess(login(0, asn=3320), context)
    assert common.risk == plain.assess(login(0, asn=3320), context).risk
    assert asn_evidence(trained, 3320) == asn_evidence(plain, 3320)
    assert asn_evidence(trained, 2856) < 0 < asn_evidence(trained, 3320) == pytest.approx(
        asn_evidence(trained, 60117))
    assert "never seen for this user" in next(
        r.message for r in common.reasons if r.code == "UNUSUAL_ASN")
    assert trained.assess(login(0, asn=3320), LoginContext()).risk == pytest.approx(
        BehaviorSettings().prior_risk)
    assert trained.version != agent.version
    assert "pop-test" in trained.describe().description


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{not json", "cannot read"),
        ({"features": {}}, "model_version"),
        ({"model_version": "x", "features": {"asn": {"1": -3}}}, "greater than or equal to 0"),
        (
            {"model_version": "x", "features": {"shoe_size": {"42": 1}}},
            "unknown features shoe_size",
        ),
    ],
)
def test_an_unreadable_population_model_refuses_to_load(
    tmp_path: Path, document: object, expected: str
) -> None:
    model_dir = tmp_path / "behavior"
    model_dir.mkdir()
    path = model_dir / POPULATION_FILE
    path.write_text(document if isinstance(document, str) else json.dumps(document))

    with pytest.raises(ArtifactError, match=expected) as raised:
        BehaviorAgent(model_dir).load()
    assert str(path) in str(raised.value)


def test_a_trip_on_the_users_own_device_is_one_surprise_not_five(tmp_path: Path) -> None:
    """A new address, network, country, region and city move together: their evidence is
    bounded as one group, so a trip on the usual browser weighs less than a stranger's
    browser at the same new place, and less than it would summed feature by feature."""
    context = LoginContext(history=stable_history())
    trip = login(0, **{k: v for k, v in ATTACKER.items() if k != "user_agent"})
    takeover = login(0, **ATTACKER)
    bounded = BehaviorAgent(tmp_path, BehaviorSettings(max_group_log_lr=8))
    summed = BehaviorAgent(tmp_path, BehaviorSettings(max_group_log_lr=100))

    where = sum(e.log_lr for e in bounded.evidence(trip, LoginHistory.from_logins(
        stable_history())) if e.feature.group == "where")
    assert where > 8
    assert bounded.assess(trip, context).risk < summed.assess(trip, context).risk
    assert bounded.assess(trip, context).risk < bounded.assess(takeover, context).risk
