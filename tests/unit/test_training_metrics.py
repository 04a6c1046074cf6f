"""Metrics and calibration of the training and evaluation code, on cases worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from aegis_lab.training.calibration import Isotonic, fit_isotonic
from aegis_lab.training.metrics import (
    flagged_share,
    reliability,
    roc_curve,
    summarize,
    threshold_at_fpr,
)


def test_the_threshold_challenges_at_most_the_budget_of_legitimate_logins() -> None:
    labels = np.array([False] * 100 + [True] * 10)
    scores = np.r_[np.arange(100) / 100, np.full(10, 0.985)]
    # A budget of one legitimate login: the one at 0.99 is challenged, and with it every
    # attack above the next legitimate score (0.98).
    threshold = threshold_at_fpr(labels, scores, 0.01)
    assert flagged_share(~labels, scores, threshold) == 0.01
    assert flagged_share(labels, scores, threshold) == 1.0
    # No budget: nothing legitimate is challenged, so the attacks below 0.99 are not either.
    nothing = threshold_at_fpr(labels, scores, 0.0)
    assert flagged_share(~labels, scores, nothing) == 0.0
    assert flagged_share(labels, scores, nothing) == 0.0


def test_a_perfect_ranking_has_full_area_and_recall() -> None:
    labels = np.array([False, False, True, True])
    scores = np.array([0.1, 0.2, 0.8, 0.9])
    assert roc_curve(labels, scores).area == pytest.approx(1.0)
    summary = summarize(labels, scores)
    assert summary.recall_at_1pct == 1.0 and summary.pr_auc == pytest.approx(1.0)


def test_ece_is_zero_when_each_bin_says_what_happens() -> None:
    labels = np.array([True] * 3 + [False] * 7 + [True] * 9 + [False])
    risks = np.r_[np.full(10, 0.3), np.full(10, 0.9)]
    assert reliability(labels, risks).ece == pytest.approx(0.0)
    assert reliability(labels, np.full(20, 0.5)).ece == pytest.approx(0.1)


def test_isotonic_calibration_is_monotone_and_matches_the_observed_rates() -> None:
    rng = np.random.default_rng(4)
    margins = rng.normal(size=20_000)
    labels = rng.random(20_000) < 1 / (1 + np.exp(-3 * margins))
    calibration = fit_isotonic(margins, labels)
    risks = calibration(np.sort(margins))
    assert np.all(np.diff(risks) >= 0)
    assert reliability(labels, calibration(margins)).ece < 0.01
    restored = Isotonic.from_json(calibration.to_json())
    assert np.array_equal(restored(margins), calibration(margins))


def test_a_calibration_that_is_not_monotone_is_refused() -> None:
    with pytest.raises(ValueError, match="non-decreasing"):
        Isotonic.from_json({"knots": [0, 1], "probabilities": [0.9, 0.1], "support": [1, 1]})
