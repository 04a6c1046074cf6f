"""Drift against the training window: PSI near zero for the same population, large for a
shifted one, none before enough logins, missing values in a bin of their own."""

from __future__ import annotations

import numpy as np
import pytest

from agent_services.drift import MIN_LOGINS, RISK, WINDOW, DriftWindow, build_reference, psi

FEATURES = ("speed_kmh",)


def _window(rng: np.random.Generator) -> DriftWindow:
    training = {RISK: rng.beta(1, 9, 5000), "speed_kmh": rng.normal(100, 30, 5000)}
    return DriftWindow(build_reference(training), FEATURES)


def _observe(window: DriftWindow, risks: np.ndarray, speeds: np.ndarray) -> None:
    window.observe(risks, speeds.reshape(-1, 1))


def test_the_training_population_is_stable_and_a_shifted_one_drifts() -> None:
    rng = np.random.default_rng(7)
    same, shifted = _window(rng), _window(rng)
    _observe(same, rng.beta(1, 9, WINDOW), rng.normal(100, 30, WINDOW))
    _observe(shifted, rng.beta(1, 9, WINDOW), rng.normal(160, 30, WINDOW))
    assert max(same.psi_by_quantity().values()) < 0.1
    drifted = shifted.psi_by_quantity()
    assert drifted[RISK] < 0.1
    assert drifted["speed_kmh"] > 0.25


def test_the_window_forgets_what_came_before_its_last_logins() -> None:
    rng = np.random.default_rng(8)
    window = _window(rng)
    _observe(window, rng.beta(1, 9, WINDOW), rng.normal(160, 30, WINDOW))
    # In batches, across the ring's end: only the latest WINDOW logins count.
    for _ in range(2 * WINDOW // 64 + 1):
        _observe(window, rng.beta(1, 9, 64), rng.normal(100, 30, 64))
    assert window.psi_by_quantity()["speed_kmh"] < 0.1


def test_no_index_before_enough_logins() -> None:
    rng = np.random.default_rng(9)
    window = _window(rng)
    _observe(window, rng.beta(1, 9, MIN_LOGINS - 1), rng.normal(100, 30, MIN_LOGINS - 1))
    assert window.psi_by_quantity() == {}


def test_missing_values_have_a_bin_of_their_own() -> None:
    values = np.array([1.0, 2.0, np.nan, np.nan])
    reference = build_reference({"x": values})
    assert reference.shares["x"][-1] == pytest.approx(0.5)
    assert sum(reference.shares["x"]) == pytest.approx(1.0)


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    even = np.full(4, 0.25)
    assert psi(even, even) == 0
    slight, strong = np.array([0.3, 0.2, 0.25, 0.25]), np.array([0.7, 0.1, 0.1, 0.1])
    assert 0 < psi(even, slight) < psi(even, strong)
