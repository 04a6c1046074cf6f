"""The facts that drove a decision, in plain words, from the policy's rules and the agents'
reasons: strongest first, two or three, none on ALLOW."""

from __future__ import annotations

from aegis_domain.types import Action, AgentSignal, Reason, SignalStatus, Velocity
from router_service.drivers import drivers
from router_service.policy import Outcome

VELOCITY = Velocity(user_failures=6, window_seconds=3600)


def signal(agent: str, risk: float, *reasons: tuple[str, str, float]) -> AgentSignal:
    return AgentSignal(agent=agent, status=SignalStatus.OK, risk=risk, confidence=0.9,
                       reasons=[Reason(code, message, weight) for code, message, weight in reasons])


SIGNALS = [
    signal("network", 0.6, ("SHARED_IP", "IP 203.0.113.9 used by 7 other users, 3 flagged", 0.4)),
    signal("behavior", 0.9,
           ("UNUSUAL_DEVICE", "device type mobile never seen for this user in 40 logins", 2.0),
           ("UNUSUAL_ASN", "ASN 64501 seen in only 1 of this user's 40 logins", 3.0)),
    signal("geo", 0.1, ("NEW_COUNTRY", "first login from BR", 0.2)),  # not risky: left out
]


def outcome(action: Action, *codes: str) -> Outcome:
    return Outcome(action, [Reason(code, "") for code in codes])


def test_allow_has_none() -> None:
    assert drivers(outcome(Action.ALLOW, "LOW_RISK"), SIGNALS, VELOCITY, 0.5) == []


def test_the_riskiest_agents_strongest_reasons_first_each_agent_once_before_seconds() -> None:
    facts = drivers(outcome(Action.CHALLENGE, "ELEVATED_RISK"), SIGNALS, VELOCITY, 0.5)
    assert facts == [
        "Unusual for this user: ASN 64501 seen in only 1 of this user's 40 logins",
        "Shared with other accounts: IP 203.0.113.9 used by 7 other users, 3 flagged",
        "Unusual for this user: device type mobile never seen for this user in 40 logins",
    ]


def test_velocity_and_what_was_missing_are_named_in_words() -> None:
    facts = drivers(
        outcome(Action.CHALLENGE, "VELOCITY_USER_FAILURES", "REQUIRED_AGENT_MISSING:geo"),
        [], VELOCITY, 0.5,
    )
    assert facts == ["6 failed logins to this account in the last 60 minutes",
                     "The geo check did not answer in time"]
    assert drivers(outcome(Action.CHALLENGE, "CONTEXT_UNAVAILABLE"), SIGNALS[:1], Velocity(),
                   0.5)[1].startswith("This user's history could not be read")


def test_when_no_agent_passed_the_threshold_alone_the_riskiest_still_say_why() -> None:
    facts = drivers(outcome(Action.CHALLENGE, "ELEVATED_RISK"), SIGNALS, VELOCITY, 0.95)
    assert facts[0] == "Unusual for this user: ASN 64501 seen in only 1 of this user's 40 logins"


def test_the_detection_models_facts_read_as_facts_and_name_the_value_where_behavior_does() -> None:
    """xgboost's attribution comes as 'feature: value (+push log-odds)': a reviewer gets the
    fact (a share as a percentage), and the value's name where the behavior agent gives it."""
    detection = signal(
        "detection", 0.8,
        ("DETECTION_CITY_SHARE", "share of the user's logins with this city: 0 (+4.08 log-odds)",
         4.08),
        ("DETECTION_IP_SHARE", "share of the user's logins with this IP: 0.0303 (+1.2 log-odds)",
         1.2),
        ("DETECTION_SPEED_KMH",
         "implied travel speed since the user's recent logins: 1558.39 (+1.10 log-odds)", 1.1))
    behavior = signal("behavior", 0.01, ("UNUSUAL_CITY",
                                         "city PT/Lisbon/Lisbon never seen for this user in 33 "
                                         "logins", 0.01))

    facts = drivers(outcome(Action.CHALLENGE, "ELEVATED_RISK"), [detection, behavior],
                    Velocity(), 0.5)

    assert facts == [
        "Unusual for this user: city PT/Lisbon/Lisbon never seen for this user in 33 logins",
        "Like past attacks: 3% of the user's logins with this IP",
        "Like past attacks: implied travel speed since the user's recent logins: 1558",
    ]
