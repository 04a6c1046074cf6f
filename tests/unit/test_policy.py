"""The policy engine: loading and validation of the YAML, and the action for given inputs."""

from pathlib import Path

import pytest
import yaml

from aegis_domain.types import Action, AgentSignal, Reason, SignalStatus, Velocity
from router_service.combine import Combined
from router_service.policy import Policy, PolicyError, PolicyInputs, load_policy
from router_service.settings import DEFAULT_POLICY


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT_POLICY)


def inputs(
    risk: float = 0.1,
    confidence: float = 0.9,
    disagreement: float = 0.05,
    signals: list[AgentSignal] | None = None,
    velocity: Velocity | None = None,
    context_available: bool = True,
    answered: int = 4,
    required: frozenset[str] = frozenset({"geo"}),
) -> PolicyInputs:
    return PolicyInputs(
        combined=Combined(risk, confidence, disagreement, (), answered),
        signals=signals or [],
        velocity=velocity or Velocity(window_seconds=3600),
        context_available=context_available,
        required_agents=required,
    )


def codes(outcome) -> list[str]:
    return [r.code for r in outcome.reasons]


def test_risk_thresholds_map_to_actions(policy: Policy) -> None:
    assert policy.decide(inputs(risk=0.1)).action is Action.ALLOW
    assert policy.decide(inputs(risk=0.5)).action is Action.CHALLENGE
    assert policy.decide(inputs(risk=0.85)).action is Action.BLOCK_TEMPORARY
    critical = policy.decide(inputs(risk=0.97, confidence=0.01, disagreement=0.9))
    assert critical.action is Action.BLOCK_TEMPORARY
    assert "CRITICAL_RISK" in codes(critical)


def test_every_decision_has_reasons(policy: Policy) -> None:
    assert codes(policy.decide(inputs(risk=0.1))) == ["LOW_RISK"]


def test_low_confidence_or_disagreement_escalates_unless_risk_is_low(policy: Policy) -> None:
    unsure = policy.decide(inputs(risk=0.5, confidence=0.1))
    assert unsure.action is Action.ESCALATE
    assert "LOW_CONFIDENCE" in codes(unsure)
    split = policy.decide(inputs(risk=0.4, disagreement=0.8))
    assert split.action is Action.ESCALATE
    assert "AGENT_DISAGREEMENT" in codes(split)
    assert policy.decide(inputs(risk=0.05, confidence=0.1)).action is Action.ALLOW


def test_one_sure_agent_alarm_is_not_averaged_away(policy: Policy) -> None:
    geo = AgentSignal(agent="geo", status=SignalStatus.OK, risk=0.97, confidence=0.9)
    outcome = policy.decide(inputs(risk=0.2, signals=[geo]))
    assert outcome.action is Action.CHALLENGE
    assert "AGENT_ALARM:geo" in codes(outcome)


def test_the_behavior_agents_novelty_alone_raises_no_alarm(policy: Policy) -> None:
    """Its risk is a label-free likelihood ratio (a new phone on a new carrier scores near 1),
    not a calibrated probability: it speaks through the combiner, never as a veto."""
    behavior = AgentSignal(agent="behavior", status=SignalStatus.OK, risk=0.97, confidence=0.9)
    assert policy.decide(inputs(risk=0.2, signals=[behavior])).action is Action.ALLOW


def test_velocity_limits_from_context(policy: Policy) -> None:
    stuffing = Velocity(ip_distinct_users=25, window_seconds=3600)
    outcome = policy.decide(inputs(velocity=stuffing))
    assert outcome.action is Action.BLOCK_TEMPORARY
    assert "VELOCITY_IP_DISTINCT_USERS" in codes(outcome)
    failures = Velocity(user_failures=5, window_seconds=3600)
    assert policy.decide(inputs(velocity=failures)).action is Action.CHALLENGE
    assert policy.decide(inputs(velocity=Velocity(user_failures=4))).action is Action.ALLOW


def test_degraded_decisions(policy: Policy) -> None:
    no_context = policy.decide(inputs(context_available=False))
    assert no_context.action is Action.CHALLENGE
    assert "CONTEXT_UNAVAILABLE" in codes(no_context)
    geo_down = AgentSignal(agent="geo", status=SignalStatus.UNAVAILABLE)
    missing = policy.decide(inputs(signals=[geo_down]))
    assert missing.action is Action.CHALLENGE
    assert "REQUIRED_AGENT_MISSING:geo" in codes(missing)
    # An optional agent without a model is a missing signal, not a degraded decision.
    no_model = AgentSignal(agent="detection", status=SignalStatus.NO_MODEL)
    assert policy.decide(inputs(signals=[no_model])).action is Action.ALLOW
    nothing = policy.decide(inputs(risk=0.0, confidence=0.0, disagreement=0.0, answered=0))
    assert nothing.action is Action.ESCALATE
    assert "NO_SIGNAL" in codes(nothing)


def test_most_severe_action_wins_and_reasons_are_ordered(policy: Policy) -> None:
    outcome = policy.decide(
        inputs(risk=0.5, velocity=Velocity(user_attempts=40, window_seconds=3600))
    )
    assert outcome.action is Action.BLOCK_TEMPORARY
    assert codes(outcome)[0] == "VELOCITY_USER_ATTEMPTS"
    assert "ELEVATED_RISK" in codes(outcome)


def write_policy(tmp_path: Path, **changes) -> Path:
    document = yaml.safe_load(DEFAULT_POLICY.read_text())
    document.update(changes)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_ai_never_takes_human_only_actions(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path, velocity=[{"metric": "ip_attempts", "limit": 5, "action": "BLOCK_PERMANENT"}]
    )
    with pytest.raises(PolicyError, match=r"velocity\[0\]\.action: BLOCK_PERMANENT"):
        load_policy(path)


def test_forbidden_action_goes_to_a_human(tmp_path: Path) -> None:
    policy = load_policy(
        write_policy(
            tmp_path, forbidden_actions=["BLOCK_PERMANENT", "BLOCK_TEMPORARY"],
            velocity=[],
        )
    )
    outcome = policy.decide(inputs(risk=0.9))
    assert outcome.action is Action.ESCALATE
    assert "FORBIDDEN_ACTION" in codes(outcome)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"thresholds": {"challenge": 0.9, "block_temporary": 0.5}}, "block_temporary must be"),
        ({"thresholds": {"challenge": 1.5, "block_temporary": 2}}, "thresholds.challenge"),
        ({"severity": ["ALLOW", "CHALLENGE"]}, "severity must order"),
        ({"version": ""}, "version"),
        ({"unknown_rule": 1}, "unknown_rule"),
        ({"velocity": [{"metric": "moon_phase", "limit": 1, "action": "ALLOW"}]}, "metric"),
    ],
)
def test_bad_policy_is_refused_naming_the_problem(
    tmp_path: Path, changes: dict, message: str
) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write_policy(tmp_path, **changes))


def test_unreadable_policy(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(broken)


class _Table:
    """A calibration table: risk 0.9 at 0.1% of legitimate logins, 0.6 at 1%."""

    def risk_at_share(self, share: float) -> float | None:
        return {0.001: 0.9, 0.006: 0.7, 0.01: 0.6}.get(share, 0.5)


def test_a_budget_becomes_risks_by_the_combiners_table(policy: Policy) -> None:
    budgeted = policy.within(_Table())
    assert budgeted.spec.thresholds.challenge == 0.7
    assert budgeted.spec.thresholds.block_temporary == 0.9
    assert budgeted.spec.escalate.only_above_risk == 0.7
    # 0.5 challenged under the raw thresholds; under the budget it is below the 0.6% line.
    assert policy.decide(inputs(risk=0.5)).action is Action.CHALLENGE
    assert budgeted.decide(inputs(risk=0.5)).action is Action.ALLOW
    assert budgeted.decide(inputs(risk=0.75)).action is Action.CHALLENGE
    assert budgeted.decide(inputs(risk=0.5, disagreement=0.8)).action is Action.ALLOW
    # No table (no trained combiner): the risks of `thresholds` stand.
    assert policy.within(None) is policy


def test_a_budget_is_ordered(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="block_temporary must be <= challenge"):
        load_policy(write_policy(tmp_path, budget={
            "challenge": 0.001, "block_temporary": 0.01, "escalate_above": 0.01}))


def test_the_network_agent_alone_never_challenges_a_user(policy: Policy) -> None:
    """Shared infrastructure is normal: a very sure network signal (SHARED_IP) with the others
    quiet does not raise the agent alarm; the same from detection does."""
    shared_ip = AgentSignal(agent="network", status=SignalStatus.OK, risk=0.99, confidence=0.9,
                            reasons=[Reason("SHARED_IP", "120 users on this address")])
    assert policy.decide(inputs(risk=0.1, signals=[shared_ip])).action is Action.ALLOW
    sure = AgentSignal(agent="detection", status=SignalStatus.OK, risk=0.99, confidence=0.9)
    assert policy.decide(inputs(risk=0.1, signals=[sure])).action is Action.CHALLENGE


def test_a_users_own_failures_hold_only_a_login_the_mesh_finds_unusual(policy: Policy) -> None:
    """A forgotten password (failures, then the user's own device and network: a low risk) is
    let through; the same failures before an unusual login are challenged. The limit's share
    becomes a risk by the combiner's table, like the budget."""
    failures = Velocity(user_failures=6, window_seconds=3600)
    assert policy.decide(inputs(risk=0.01, velocity=failures)).action is Action.ALLOW
    assert policy.decide(inputs(risk=0.2, velocity=failures)).action is Action.CHALLENGE
    budgeted = policy.within(_Table())
    assert budgeted.decide(inputs(risk=0.45, velocity=failures)).action is Action.ALLOW
    outcome = budgeted.decide(inputs(risk=0.55, velocity=failures))
    assert outcome.action is Action.CHALLENGE and "VELOCITY_USER_FAILURES" in codes(outcome)
    # Counts over the shared links hold whatever the risk: stuffing behind ordinary logins.
    stuffing = Velocity(ip_distinct_users=25, window_seconds=3600)
    assert budgeted.decide(inputs(risk=0.01, velocity=stuffing)).action is Action.BLOCK_TEMPORARY
