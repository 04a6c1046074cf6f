"""The budget from recent traffic: thresholds from the window's quantiles once it holds
enough decisions, within the guard's band around the calibration world's."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from router_service.combiner import CombinerFile, LogisticCombiner
from router_service.policy import Policy, load_policy
from router_service.settings import DEFAULT_POLICY
from router_service.traffic_budget import RiskWindow, TrafficBudget

# Share of calibration logins challenged -> risk; the default policy's budget is 0.6%
# challenged, 0.1% blocked, 0.6% escalated.
TABLE = LogisticCombiner(CombinerFile(
    model_version="t", intercept=0.0, agents={"detection": {"bias": 0.0, "weight": 1.0}},
    risk_at_challenge_share={0.0001: 0.95, 0.001: 0.8, 0.006: 0.6, 0.05: 0.3, 0.5: 0.05},
), "t")
SHIFT = 8.0


def calibrated() -> Policy:
    return load_policy(DEFAULT_POLICY).within(TABLE)


def budget(size: int = 1000, min_decisions: int = 500) -> TrafficBudget:
    return TrafficBudget(calibrated(), TABLE, size, min_decisions, SHIFT)


def fed(risks: list[float] | np.ndarray, **kwargs: int) -> TrafficBudget:
    b = budget(**kwargs)
    for risk in risks:
        b.observe(float(risk))
    return b


def test_the_calibration_thresholds_serve_until_the_window_holds_enough() -> None:
    b = fed([0.9] * 499)
    assert b.current == b.calibrated
    assert b.current.challenge == TABLE.risk_at_share(0.006)
    assert b.current.window_decisions == 0


def test_a_shifted_stream_moves_the_thresholds_to_the_budgets_quantiles() -> None:
    # Legitimate traffic that scores higher than the calibration world: at its thresholds,
    # far more than 0.6% would be challenged; from the window, 0.6% are.
    # 62 refreshes (every 1000 // 32 decisions): the last one sees the last 1000.
    risks = np.random.default_rng(1).uniform(0.4, 0.75, 31 * 64)
    b = fed(risks, size=1000)
    window = risks[-1000:]
    assert b.current.window_decisions == 1000
    assert np.mean(window >= b.calibrated.challenge) > 0.3
    assert b.current.challenge > b.calibrated.challenge
    assert abs(np.mean(window >= b.current.challenge) - 0.006) < 0.004


def test_an_attack_wave_cannot_raise_the_bar_beyond_the_guard() -> None:
    b = fed([0.999] * 1000)
    assert b.current.challenge == TABLE.risk_at_share(0.006 / SHIFT)
    assert b.current.block_temporary == TABLE.risk_at_share(0.001 / SHIFT)
    assert b.current.challenge < 0.999


def test_a_quiet_spell_cannot_lower_the_bar_beyond_the_guard() -> None:
    b = fed([0.0] * 1000)
    assert b.current.challenge == TABLE.risk_at_share(0.006 * SHIFT)


def test_only_the_last_window_of_decisions_counts() -> None:
    b = fed([0.999] * 1000 + [0.0] * 1984)  # refreshed last after the 2976th
    assert b.current.challenge == TABLE.risk_at_share(0.006 * SHIFT)


def test_without_a_calibration_table_the_policys_own_thresholds_serve() -> None:
    policy = load_policy(DEFAULT_POLICY)
    b = TrafficBudget(policy, None, 100, 10, SHIFT)
    for _ in range(100):
        b.observe(0.99)
    assert b.window is None
    assert b.current == policy.thresholds


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=64, max_size=300))
def test_thresholds_stay_ordered_and_within_the_band(risks: list[float]) -> None:
    b = fed(risks, size=128, min_decisions=64)
    t = b.current
    # Refreshed every 128 // 32 decisions once it holds 64.
    assert 64 <= t.window_decisions <= min(len(risks), 128)
    assert t.challenge <= t.block_temporary <= t.critical
    assert t.critical >= b.calibrated.critical
    for value, share in ((t.challenge, 0.006), (t.escalate_above, 0.006)):
        assert TABLE.risk_at_share(share * SHIFT) <= value <= TABLE.risk_at_share(share / SHIFT)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50), st.integers(1, 20))
def test_the_window_keeps_the_last_risks(risks: list[float], size: int) -> None:
    window = RiskWindow(size)
    for risk in risks:
        window.add(risk)
    kept = risks[-size:]
    assert window.count == len(kept)
    assert window.quantiles([0.0, 1.0]) == [min(kept), max(kept)]
