"""aegis_cli.world_recall's line per scorer (recall at the budgets of legitimate logins
challenged, overall and per attack type) and its policy line (what the policy refused)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from aegis_cli.world_recall import main, policy_report, report
from aegis_domain.convert import event_from_proto
from aegis_lab.contexts import OfflineContexts
from aegis_lab.evaluation.in_process import MESH, read_policy, scored
from aegis_lab.world import WorldConfig, generate
from audit_service.settings import AuditSettings
from router_service.settings import DEFAULT_POLICY


def test_recall_is_counted_above_the_legitimate_logins_budget_per_attack_type() -> None:
    # 1,000 legitimate logins scored 0.000 to 0.999: at 1% the 10 highest are challenged.
    legitimate = np.arange(1000) / 1000
    attacks = np.array(["ring"] * 4 + ["copy"] * 2)
    scores = np.array([0.999, 0.995, 0.5, 0.1, 0.9995, 0.2])
    line = report("detection", np.concatenate([np.full(1000, ""), attacks]),
                  np.concatenate([legitimate, scores]))
    # Above the 1% threshold (0.989): 0.999, 0.995 and 0.9995; above 0.1% (0.998): two.
    assert "@1% 0.500" in line and "@0.1% 0.333" in line
    assert "copy 0.50 ring 0.50" in line


def test_the_policy_line_counts_refused_legitimate_logins_per_hard_case() -> None:
    attacks = np.array(["", "", "", "", "ring", "ring"])
    hard_cases = np.array(["", "travel", "travel", "vpn", "", ""])
    allowed = np.array([True, False, True, True, False, True])
    line = policy_report(attacks, hard_cases, allowed)
    assert "legitimate not allowed 25.00% (1 of 4)" in line
    assert "attacks stopped 0.500" in line
    assert "travel 1/2 vpn 0/1" in line


def _policy(tmp_path: Path, name: str, challenge: float) -> Path:
    """The default policy acting at one raw challenge threshold (no combiner: no budget),
    with no other rule that could refuse a login on its own."""
    spec = yaml.safe_load(DEFAULT_POLICY.read_text())
    spec.pop("budget")
    spec["thresholds"] = {"challenge": challenge, "block_temporary": 1.0}
    spec["critical_risk"] = 1.0
    spec["agent_alarm"]["risk"] = 1.0
    spec["escalate"]["only_above_risk"] = 1.0
    spec["velocity"] = []
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_every_login_is_decided_by_the_policy_it_is_given(tmp_path: Path) -> None:
    contexts = OfflineContexts(AuditSettings().context_bounds())
    logins = []
    for generated in generate(WorldConfig(users=8, events=120, seed=3)):
        event = event_from_proto(generated.event)
        logins.append((event, contexts.context(event)))
        contexts.record(event)
    # No models: the agents that need none answer, pooled as the router pools them.
    median = float(np.median(scored(tmp_path, read_policy(DEFAULT_POLICY), logins).risks[MESH]))
    lenient = scored(tmp_path, read_policy(_policy(tmp_path, "lenient", median)), logins)
    strict = scored(tmp_path, read_policy(_policy(tmp_path, "strict", 0.0)), logins)
    assert not strict.allowed.any()
    # At the median risk about half are refused: the threshold is the one applied.
    assert 0 < (~lenient.allowed).sum() < len(logins)
    assert ((~lenient.allowed) == (lenient.risks[MESH] >= median)).all()


def test_a_policy_that_cannot_be_read_is_refused_before_any_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("thresholds: [")
    # The world files do not exist: a replay would fail on them, the policy is read first.
    monkeypatch.setattr(sys, "argv", ["world_recall", "--policy", str(broken),
                                      str(tmp_path / "w.csv"), str(tmp_path / "w.truth")])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert f"policy {broken}: not valid YAML" in capsys.readouterr().err
