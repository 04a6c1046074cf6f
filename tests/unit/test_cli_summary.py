"""The replay summary as plain functions: percentiles, counts, the JSON it prints."""

from __future__ import annotations

import json

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_cli.render import summary_text
from router_service.client.rows import BadRow, Labels, Problem
from router_service.client.stream import Outcome
from router_service.client.summary import MALFORMED, LatencyHistogram, ReplaySummary, code_name
from router_service.policy import CONTEXT_UNAVAILABLE, REQUIRED_AGENT_MISSING


def histogram(values: list[float]) -> LatencyHistogram:
    h = LatencyHistogram()
    for v in values:
        h.add(v)
    return h


@pytest.mark.parametrize(("q", "expected"), [(50, 500.0), (99, 990.0), (100, 1000.0), (1, 10.0)])
def test_percentiles_are_nearest_rank_within_one_percent(q: float, expected: float) -> None:
    h = histogram([float(i) for i in range(1, 1001)])

    assert h.percentile(q) == pytest.approx(expected, rel=0.01)


def test_percentiles_never_leave_the_observed_range() -> None:
    h = histogram([7.0] * 10)

    assert h.percentile(0) == 7.0
    assert h.percentile(50) == 7.0
    assert h.percentile(100) == 7.0
    assert h.mean() == 7.0


def test_a_skewed_distribution_has_its_tail_in_p99() -> None:
    h = histogram([2.0] * 980 + [250.0] * 20)

    assert h.percentile(50) == pytest.approx(2.0, rel=0.01)
    assert h.percentile(99) == pytest.approx(250.0, rel=0.01)


def test_an_empty_histogram_has_no_percentiles() -> None:
    h = LatencyHistogram()

    assert h.percentile(50) is None
    assert h.mean() is None
    with pytest.raises(ValueError):
        h.percentile(101)


def test_zero_and_tiny_latencies_are_counted() -> None:
    h = histogram([0.0, 0.0005, 1.0])

    assert h.count == 3
    assert h.percentile(100) == 1.0


def decision(action: int, latency_ms: float, *statuses: tuple[str, int]) -> pb.Decision:
    return pb.Decision(
        decision_id="d", action=action, latency_ms=latency_ms,
        signals=[pb.AgentSignal(agent=agent, status=status) for agent, status in statuses],
    )


def test_the_summary_counts_actions_signal_statuses_errors_and_truth() -> None:
    s = ReplaySummary(rows=6)
    attack = Labels(is_attack_ip=True, is_account_takeover=False)
    takeover = Labels(is_attack_ip=False, is_account_takeover=True)
    s.add_decision(decision(pb.ACTION_ALLOW, 10, ("geo", pb.SIGNAL_STATUS_OK),
                            ("network", pb.SIGNAL_STATUS_NO_MODEL)), Labels(False, False))
    s.add_decision(decision(pb.ACTION_BLOCK_TEMPORARY, 20, ("geo", pb.SIGNAL_STATUS_OK),
                            ("network", pb.SIGNAL_STATUS_TIMEOUT)), attack)
    s.add_decision(decision(pb.ACTION_ESCALATE, 30, ("geo", pb.SIGNAL_STATUS_ERROR)), takeover)
    s.add_decision(decision(pb.ACTION_ALLOW, 40), None)
    s.add_error("INVALID_ARGUMENT")
    s.add_error(MALFORMED)
    s.elapsed_s = 2.0

    data = s.to_json()

    assert data["decisions"] == 4
    assert data["failed"] == 2
    # Every action and status is present, taken or not: scripts never meet a missing key.
    assert data["actions"] == {"ACCOUNT_TERMINATION": 0, "ALLOW": 2, "BLOCK_PERMANENT": 0,
                               "BLOCK_TEMPORARY": 1, "CHALLENGE": 0, "ESCALATE": 1}
    assert data["signal_statuses"] == {
        "geo": {"ERROR": 1, "NO_MODEL": 0, "OK": 2, "TIMEOUT": 0, "UNAVAILABLE": 0},
        "network": {"ERROR": 0, "NO_MODEL": 1, "OK": 0, "TIMEOUT": 1, "UNAVAILABLE": 0},
    }
    assert data["errors"] == {"INVALID_ARGUMENT": 1, "MALFORMED": 1}
    taken = {truth: {a: n for a, n in counts.items() if n}
             for truth, counts in data["actions_by_ground_truth"].items()}
    assert taken == {
        "account_takeover": {"ESCALATE": 1}, "attack_ip": {"BLOCK_TEMPORARY": 1},
        "benign": {"ALLOW": 1},
    }
    assert all(len(counts) == 6 for counts in data["actions_by_ground_truth"].values())
    assert data["latency_ms"]["p50"] == pytest.approx(20.0, rel=0.01)
    assert data["latency_ms"]["p99"] == pytest.approx(40.0, rel=0.01)
    assert data["throughput_per_s"] == 2.0
    assert data["stopped"] is None
    json.dumps(data)


def test_degraded_decisions_are_counted_beside_the_failed_ones() -> None:
    s = ReplaySummary(rows=4)
    without_context = decision(pb.ACTION_CHALLENGE, 10)
    without_context.reasons.add(code=CONTEXT_UNAVAILABLE, message="user history unavailable")
    missing = decision(pb.ACTION_CHALLENGE, 10, ("network", pb.SIGNAL_STATUS_TIMEOUT))
    missing.reasons.add(code=f"{REQUIRED_AGENT_MISSING}:network", message="required agent")
    for degraded in (without_context, without_context, missing):
        s.add_decision(degraded, None)
    s.add_decision(decision(pb.ACTION_ALLOW, 10), None)

    data = s.to_json()

    assert (data["decisions"], data["failed"]) == (4, 0)
    assert (data["without_context"], data["required_agent_missing"]) == (2, 1)
    assert "failed 0  without context 2  required agent missing 1" in summary_text(s)


def test_an_empty_replay_has_no_latency_or_throughput() -> None:
    data = ReplaySummary().to_json()

    assert data["latency_ms"] == {"p50": None, "p99": None, "mean": None, "max": None}
    assert data["throughput_per_s"] is None


def test_grpc_code_numbers_become_names() -> None:
    assert code_name(3) == "INVALID_ARGUMENT"
    assert code_name(14) == "UNAVAILABLE"
    assert code_name(99) == "CODE_99"


def test_an_outcome_line_carries_the_decision_or_the_error() -> None:
    labels = Labels(is_attack_ip=True, is_account_takeover=False)
    scored = Outcome(4, 3, "e-3", labels, pb.Decision(
        decision_id="d-3", action=pb.ACTION_CHALLENGE, risk=0.5, confidence=0.75))
    refused = Outcome(5, 4, "e-4", error_code="INVALID_ARGUMENT", error_message="bad ip",
                      error_field="event.ip")
    malformed = Outcome.malformed(BadRow(6, 5, (Problem("User ID", "scientific"),)))

    assert scored.to_json() == {
        "line": 4, "row": 3, "event_id": "e-3", "decision_id": "d-3", "action": "CHALLENGE",
        "risk": 0.5, "confidence": 0.75,
        "labels": {"is_attack_ip": True, "is_account_takeover": False},
    }
    assert refused.to_json()["error"] == {
        "code": "INVALID_ARGUMENT", "message": "bad ip", "field": "event.ip",
    }
    assert malformed.to_json()["error"] == {
        "code": "MALFORMED", "message": "line 6: User ID: scientific",
        "problems": [{"column": "User ID", "message": "scientific"}],
    }
