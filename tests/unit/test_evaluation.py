"""The evaluation's figures and report, from decisions whose truth is known by construction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from aegis.v1 import common_pb2 as pb
from aegis_cli.cmd_evaluate import held_out_world, untrained_agents
from aegis_cli.errors import CliError
from aegis_cli.main import build_parser
from aegis_domain.registry import default_registry
from aegis_lab.evaluation.analysis import MESH, NOVELTY, analyse
from aegis_lab.evaluation.collect import Collected
from aegis_lab.evaluation.report import METRICS_FILE, write_report
from aegis_lab.training.dataset import ATTACKS, CASES
from router_service.combiner import AgentTerm, CombinerFile, LogisticCombiner

AGENTS = ("detection", "behavior", "geo")
WEIGHTS = dict.fromkeys(AGENTS, 1.0)


def decisions(n: int = 4_000) -> Collected:
    """Attacks every 20th login; detection sees them all, geo half, behavior none, the novelty
    baseline the low-and-slow ones (two in three)."""
    rng = np.random.default_rng(1)
    c = Collected.empty(n, AGENTS)
    c.timestamps[:] = np.arange(n, dtype=float)
    c.attack[::20] = ATTACKS.index("low_and_slow")
    c.attack[10::40] = ATTACKS.index("session_hijack")
    c.hard_case[5::50] = CASES.index("travel")
    attack = c.attack > 0
    c.agent_status[:] = pb.SIGNAL_STATUS_OK
    c.agent_risk[:, 0] = np.where(attack, 0.9, 0.01 * rng.random(n))
    c.agent_risk[:, 1] = rng.random(n)
    c.agent_risk[:, 2] = np.where(attack & (np.arange(n) % 40 == 0), 0.8, 0.1 * rng.random(n))
    c.agent_confidence[:] = 0.9
    c.risk[:] = np.where(attack, 0.93, 0.02)
    c.confidence[:] = 0.8
    c.action[:] = np.where(attack, pb.ACTION_CHALLENGE, pb.ACTION_ALLOW)
    c.action[15::100] = pb.ACTION_ESCALATE
    c.latency_ms[:] = 12.0
    c.novelty[:] = 0.3 * rng.random(n)
    c.novelty[c.attack == ATTACKS.index("low_and_slow")] = 0.6
    c.novelty[c.attack == ATTACKS.index("session_hijack")] = 0.0
    return c


def test_each_score_is_measured_after_the_warm_up() -> None:
    analysis = analyse(decisions(), warm_after=1_000, weights=WEIGHTS, combiner=None)

    assert analysis.measured == 3_000
    mesh = analysis.scores[MESH]
    assert mesh.summary.recall_at_1pct == 1.0
    assert analysis.scores["detection"].summary.recall_at_1pct == 1.0
    assert analysis.scores["geo"].recall_by_attack["low_and_slow"] == pytest.approx(0.5)
    assert analysis.scores["behavior"].summary.roc_auc == pytest.approx(0.5, abs=0.1)
    assert mesh.flagged_by_hard_case["travel"] == 0.0
    # 150 + 75 attacks among the 3,000 measured logins; 30 escalations, all legitimate.
    assert analysis.escalation_rate["legitimate"] == pytest.approx(30 / 2_775)
    assert analysis.reliability.ece < 0.05
    # Perfect, as detection alone is: a tie meets "at least its best agent". The 30 legitimate
    # escalations are 1.08% of legitimate logins (over the 1% bar); no travel login among them.
    assert analysis.targets == {
        "mesh recall at 1% >= 0.97": True,
        "every attack type's recall at 1% >= 0.9": True,
        "mesh recall at 0.1% >= 0.85": True,
        "mesh at least as good as its best single agent (recall at 1% and at 0.1%)": True,
        "ECE <= 0.05": True,
        "legitimate logins not allowed <= 1% (the policy's actions)": False,
        "every hard case's legitimate logins not allowed <= 5%": True,
        "mesh beats the novelty baseline by >= 0.02 (recall at 1%)": True,
        "behavior alone is at least as good as the novelty baseline (recall at 1%)": False,
    }


def test_the_novelty_baseline_is_scored_beside_the_agents() -> None:
    analysis = analyse(decisions(), warm_after=1_000, weights=WEIGHTS, combiner=None)

    baseline = analysis.scores[NOVELTY]
    assert baseline.recall_by_attack == {"low_and_slow": 1.0, "session_hijack": 0.0}
    assert baseline.summary.recall_at_1pct == pytest.approx(150 / 225)


def test_logins_without_a_decision_are_counted_not_scored() -> None:
    c = decisions()
    c.risk[1_500:1_600] = np.nan
    c.errors["DEADLINE_EXCEEDED"] = 100
    analysis = analyse(c, warm_after=1_000, weights=WEIGHTS, combiner=None)
    assert analysis.measured == 2_900
    assert analysis.errors == {"DEADLINE_EXCEEDED": 100}


def test_the_report_holds_every_figure_and_plot(tmp_path: Path) -> None:
    analysis = analyse(decisions(), warm_after=1_000, weights=WEIGHTS, combiner=None)
    about = {"command": "aegis evaluate", "evaluated_at": "now", "router": "r",
             "world": {"seed": 1, "users": 10, "start": "s", "days": 1, "attack_share": 0.05,
                       "attack_mix": {}},
             "max_in_flight": 4, "warmup_days": 1, "elapsed_s": 1.0}
    path = write_report(tmp_path / "report", analysis, about)

    text = path.read_text()
    for section in ("## Targets", "## Ranking", "Recall per attack type", "hard cases",
                    "## Calibration", "escalation rate", "Freeman"):
        assert section in text
    for plot in ("roc.png", "pr.png", "reliability.png", "recall_by_attack.png",
                 "hard_cases.png"):
        assert (tmp_path / "report" / plot).read_bytes().startswith(b"\x89PNG")
        assert f"({plot})" in text
    metrics = json.loads((tmp_path / "report" / METRICS_FILE).read_text())
    assert metrics["scores"]["mesh"]["recall_at_1pct"] == 1.0
    assert metrics["scores"][NOVELTY]["recall_at_1pct_by_attack"]["low_and_slow"] == 1.0
    assert (f"| attack type | logins | mesh | detection | behavior | geo | {NOVELTY} "
            "| log-odds pool |") in text
    assert f"mesh beats the {NOVELTY} by >= 0.02" in text


def test_the_held_out_world_is_later_and_has_other_users() -> None:
    trained_on = {"seed": 7, "start": "2024-01-01T00:00:00+00:00", "days": 30.0}
    args = build_parser().parse_args(["evaluate", "--events", "100"])
    world = held_out_world(args, trained_on)
    assert world.seed == 8
    assert world.start == datetime(2024, 2, 14, tzinfo=UTC)  # 30 days, then two weeks
    same_seed = build_parser().parse_args(["evaluate", "--seed", "7"])
    with pytest.raises(CliError, match="training world's"):
        held_out_world(same_seed, trained_on)
    with_combiner = {**trained_on, "combiner_world": {"seed": 1007}}
    combiner_seed = build_parser().parse_args(["evaluate", "--seed", "1007"])
    with pytest.raises(CliError, match="combiner world's"):
        held_out_world(combiner_seed, with_combiner)
    # Trained on several worlds: none of their seeds either.
    with_worlds = {**trained_on, "training_worlds": [{"seed": 7}, {"seed": 107}]}
    second_seed = build_parser().parse_args(["evaluate", "--seed", "107"])
    with pytest.raises(CliError, match="training world's"):
        held_out_world(second_seed, with_worlds)


def test_an_agent_without_its_model_or_left_out_of_the_combiner_is_named(tmp_path: Path) -> None:
    registry = default_registry()
    assert set(untrained_agents(tmp_path, registry, None)) == {"detection", "network"}

    for name, model_file in (("detection", "model.json"), ("network", "model.pt")):
        (tmp_path / name).mkdir()
        (tmp_path / name / model_file).write_bytes(b"")
        (tmp_path / name / "metadata.json").write_text('{"model_version": "v1"}')
    term = AgentTerm(bias=0.0, weight=1.0)
    fitted_before_network = LogisticCombiner(CombinerFile(
        model_version="s", intercept=0.0,
        agents=dict.fromkeys(("detection", "behavior", "geo"), term)), "s")
    untrained = untrained_agents(tmp_path, registry, fitted_before_network)
    assert list(untrained) == ["network"]
    assert "combiner was fitted without it" in untrained["network"]


def test_a_files_own_attack_types_and_hard_cases_are_reported_by_name() -> None:
    c = decisions()
    for index in range(len(c.risk)):
        attack = "cookie_replay" if index % 20 == 0 else ""
        c.label(index, attack, "carrier_nat" if index % 20 == 7 else "")
    c.risk[10::40], c.action[10::40] = 0.02, pb.ACTION_ALLOW  # no longer attacks
    c.action[7::40] = pb.ACTION_CHALLENGE  # half the carrier NAT logins not allowed
    analysis = analyse(c, warm_after=1_000, weights=WEIGHTS, combiner=None)

    assert analysis.counts_by_attack == {"cookie_replay": 150}
    assert analysis.counts_by_hard_case == {"carrier_nat": 150}
    assert analysis.scores[MESH].recall_by_attack == {"cookie_replay": 1.0}
    assert analysis.policy_not_allowed["carrier_nat"] == pytest.approx(0.5)
    assert analysis.policy_not_allowed["all"] == pytest.approx((75 + 30) / 2_850)
