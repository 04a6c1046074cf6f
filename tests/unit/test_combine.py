"""Signal combination: pooling, disagreement, confidence and missing agents."""

import pytest

from aegis_domain.types import AgentSignal, SignalStatus
from router_service.combine import combine

WEIGHTS = {"a": 1.0, "b": 1.0, "c": 2.0}


def ok(agent: str, risk: float, confidence: float = 1.0) -> AgentSignal:
    return AgentSignal(agent=agent, status=SignalStatus.OK, risk=risk, confidence=confidence)


def test_agreeing_agents_keep_their_risk() -> None:
    result = combine([ok("a", 0.9), ok("b", 0.9), ok("c", 0.9)], WEIGHTS)
    assert result.risk == pytest.approx(0.9)
    assert result.disagreement == pytest.approx(0.0)
    assert result.confidence == pytest.approx(1.0)
    assert result.missing == ()


def test_weights_and_confidence_pull_the_pool() -> None:
    heavy_high = combine([ok("a", 0.1), ok("c", 0.9)], WEIGHTS)
    assert heavy_high.risk > 0.5  # c weighs twice as much as a
    unsure_high = combine([ok("a", 0.1), ok("c", 0.9, confidence=0.1)], WEIGHTS)
    assert unsure_high.risk < 0.5  # c's weight is scaled down by its own confidence


def test_split_opinions_raise_disagreement_and_lower_confidence() -> None:
    split = combine([ok("a", 0.02), ok("b", 0.98)], {"a": 1.0, "b": 1.0})
    assert split.disagreement > 0.9
    assert split.confidence < 0.1


def test_missing_agents_lower_coverage_and_are_listed() -> None:
    signals = [
        ok("a", 0.2),
        AgentSignal(agent="b", status=SignalStatus.TIMEOUT),
        AgentSignal(agent="c", status=SignalStatus.NO_MODEL),
    ]
    result = combine(signals, WEIGHTS)
    assert result.missing == ("b", "c")
    assert result.risk == pytest.approx(0.2)
    assert result.confidence == pytest.approx(1.0 / 4.0)
    assert result.answered == 1


def test_no_signal_at_all() -> None:
    result = combine([AgentSignal(agent="a", status=SignalStatus.ERROR)], WEIGHTS)
    assert result.no_signal
    assert result.confidence == 0.0


def test_extreme_risks_stay_finite() -> None:
    result = combine([ok("a", 0.0), ok("b", 1.0)], {"a": 1.0, "b": 1.0})
    assert 0.0 < result.risk < 1.0
