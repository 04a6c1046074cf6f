"""aegis_cli.world_recall's line per scorer: recall at the budgets of legitimate logins
challenged, overall and per attack type."""

from __future__ import annotations

import numpy as np

from aegis_cli.world_recall import report


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
