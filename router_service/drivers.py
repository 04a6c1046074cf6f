"""The two or three facts that drove a decision, in words a reviewer can act on.

Reworded here, in the router's combine step, from what the policy saw (velocity counts, a
missing history or agent) and from the agents' own reasons, so that an agent's wording stays
the agent's: a fact names what was new or unusual for this user, or what other accounts share,
and the evidence behind it. Codes and raw risks stay in the decision's `reasons`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aegis_domain.types import Action, AgentSignal, Reason, Velocity
from router_service.policy import CONTEXT_UNAVAILABLE, REQUIRED_AGENT_MISSING, Outcome

MAX_DRIVERS = 3
# What each agent compares a login with, as the head of its facts.
_AGENT_HEADS = {
    "behavior": "Unusual for this user",
    "network": "Shared with other accounts",
    "geo": "Where the login came from",
    "detection": "Like past attacks",
}
# The velocity metrics (policy.VelocityMetric), counted within the audit service's window.
_VELOCITY_WORDS = {
    "user_attempts": "logins to this account",
    "user_failures": "failed logins to this account",
    "ip_attempts": "logins from this IP",
    "ip_failures": "failed logins from this IP",
    "ip_distinct_users": "accounts logging in from this IP",
    "device_distinct_users": "accounts on this device",
}
_VELOCITY = "VELOCITY_"
# The detection agent states a feature, its value and its push ("share of the user's logins
# with this city: 0 (+4.08 log-odds)"): a reviewer acts on the fact, not on the model's
# arithmetic, so the push goes and a share reads as one ("none of the user's logins with this
# city"). A feature that is the share of one of the login's values (DETECTION_CITY_SHARE) is
# the behavior agent's UNUSUAL_CITY, which names the value: that wording wins when present.
_DETECTION_FACT = re.compile(r"^(?P<label>.+): (?P<value>\S+) \(\+[0-9.]+ log-odds\)$")
_SHARE = "share of "
_DETECTION_SHARE = re.compile(r"^DETECTION_(?P<feature>[A-Z_]+)_SHARE$")


def drivers(
    outcome: Outcome, signals: Sequence[AgentSignal], velocity: Velocity, floor: float
) -> list[str]:
    """Empty for ALLOW. Else, strongest first: counts over a velocity limit, then the reasons
    of the agents that found the login risky (risk >= `floor`, or any when none did;
    riskiest agent first, each agent's strongest reason before anyone's second), then what
    was missing."""
    if outcome.action == Action.ALLOW:
        return []
    codes = [r.code for r in outcome.reasons]
    facts = [_velocity_fact(code, velocity) for code in codes if code.startswith(_VELOCITY)]
    # A combined risk can pass the threshold with no agent's own risk past it: then the
    # riskiest agents' reasons still say what was seen.
    facts += _agent_facts(signals, floor) or _agent_facts(signals, 0.0)
    if CONTEXT_UNAVAILABLE in codes:
        facts.append("This user's history could not be read in time, so the login was not "
                     "compared with it")
    facts += [f"The {code.split(':', 1)[1]} check did not answer in time"
              for code in codes if code.startswith(f"{REQUIRED_AGENT_MISSING}:")]
    return list(dict.fromkeys(facts))[:MAX_DRIVERS]


def _velocity_fact(code: str, velocity: Velocity) -> str:
    metric = code.removeprefix(_VELOCITY).lower()
    minutes = round(velocity.window_seconds / 60)
    words = _VELOCITY_WORDS.get(metric, metric.replace("_", " "))
    return (f"{getattr(velocity, metric)} {words} in the last "
            f"{minutes} minutes")


def _agent_facts(signals: Sequence[AgentSignal], floor: float) -> list[str]:
    risky = sorted((s for s in signals if s.present and s.risk >= floor and s.reasons),
                   key=lambda s: -s.risk)
    ranked = [sorted(s.reasons, key=lambda r: -r.weight) for s in risky]
    unusual = {r.code: r for s in signals if s.present and s.agent == "behavior"
               for r in s.reasons}
    facts = []
    for rank in range(MAX_DRIVERS):
        facts += [_agent_fact(s.agent, reasons[rank], unusual)
                  for s, reasons in zip(risky, ranked, strict=True) if rank < len(reasons)]
    return facts


def _agent_fact(agent: str, reason: Reason, unusual: dict[str, Reason]) -> str:
    if agent == "detection":
        share = _DETECTION_SHARE.match(reason.code)
        named = unusual.get(f"UNUSUAL_{share['feature']}") if share else None
        if named is not None:
            return _agent_fact("behavior", named, {})
        return f"{_AGENT_HEADS[agent]}: {_plain(reason.message)}"
    return f"{_AGENT_HEADS.get(agent, f'The {agent} check')}: {reason.message}"


def _plain(message: str) -> str:
    """A detection reason's fact without its push in log-odds; a share as a percentage."""
    fact = _DETECTION_FACT.match(message)
    if fact is None:
        return message
    label, value = fact["label"], fact["value"]
    try:
        number = float(value)
    except ValueError:
        return f"{label}: {value}"
    if label.startswith(_SHARE):
        of = label.removeprefix(_SHARE)
        return f"none of {of}" if number == 0 else f"{number:.0%} of {of}"
    return f"{label}: {number:.4g}"
