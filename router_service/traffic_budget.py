"""The policy's budget estimated from recent traffic: a ring buffer of the combined risks of
the last live decisions, whose quantiles become the risk thresholds.

Why: a budget fitted on the calibration world does not carry over under shift (the risk that
challenged 0.6% of calibration logins challenged 4.3% of a shifted world's legitimate ones).
The share of recent logins above a risk keeps its meaning where the risk itself moves.

The guard: a threshold from traffic stays within a band of the calibration world's, stated
as shares of its legitimate logins: at most the risk that challenged `share / max_shift` of
them, at least the risk that challenged `share * max_shift`. Above, an attack wave (a flood
of high risks fills the top of the window and pushes the quantile up) cannot raise the bar
beyond what a shift of that factor explains and so let its own attempts through; below, a
quiet spell cannot lower it into challenging `max_shift` times the budget. Within the band the
window decides. The band must be tight: the router feeds the window successful logins only,
which keeps out the failed attempts of stuffing and spraying, but the attacks that succeed
stay in, and where they outnumber the budget's share the quantile lands among them."""

from __future__ import annotations

import numpy as np

from router_service.policy import Policy, RiskTable, RiskThresholds

# (lowest, highest) risk of each threshold: challenge, block, escalate.
Band = list[tuple[float, float]]


class RiskWindow:
    """The last `size` risks, oldest overwritten first: O(1) per risk."""

    def __init__(self, size: int) -> None:
        self._risks = np.zeros(size)
        self._next = 0
        self.count = 0

    def add(self, risk: float) -> None:
        self._risks[self._next] = risk
        self._next = (self._next + 1) % len(self._risks)
        self.count = min(self.count + 1, len(self._risks))

    def quantiles(self, levels: list[float]) -> list[float]:
        return [float(q) for q in np.quantile(self._risks[: self.count], levels)]


class TrafficBudget:
    """The thresholds a policy acts at now: the calibration world's until the window holds
    `min_decisions`, then its budget's quantiles of the window, within the guard's band.

    They are recomputed every `size // REFRESHES` risks, so the O(size) quantile costs O(1)
    per decision amortised; `current` is the same object between recomputations."""

    REFRESHES = 32

    def __init__(
        self, policy: Policy, table: RiskTable | None, size: int, min_decisions: int,
        max_shift: float,
    ) -> None:
        self.calibrated = policy.thresholds
        self.current = self.calibrated
        self._min = min(min_decisions, size)  # a window smaller than that serves once full
        self._refresh_every = max(1, size // self.REFRESHES)
        self._since = 0
        budget = policy.spec.budget
        # The shares of the budget, in Band's order.
        self._shares = (() if budget is None else
                        (budget.challenge, budget.block_temporary, budget.escalate_above))
        self._band = _band(self._shares, table, max_shift) if self._shares and size else None
        self.window = RiskWindow(size) if self._band is not None else None

    def observe(self, risk: float) -> None:
        """One more live decision's combined risk."""
        if self.window is None or self._band is None:
            return
        self.window.add(risk)
        self._since += 1
        if self._since >= self._refresh_every and self.window.count >= self._min:
            self._since = 0
            self.current = self._from_window(self.window, self._band)

    def _from_window(self, window: RiskWindow, band: Band) -> RiskThresholds:
        quantiles = window.quantiles([1 - share for share in self._shares])
        challenge, block, escalate = (
            min(max(q, low), high) for q, (low, high) in zip(quantiles, band, strict=True)
        )
        block = max(block, challenge)
        return RiskThresholds(challenge, block, max(self.calibrated.critical, block), escalate,
                              window.count)


def _band(shares: tuple[float, ...], table: RiskTable | None, max_shift: float) -> Band | None:
    """Each threshold's band; None when the table states no risks (no trained combiner:
    the policy's own risks serve)."""
    if table is None:
        return None
    band = []
    for share in shares:
        low = table.risk_at_share(min(share * max_shift, 1.0))
        high = table.risk_at_share(share / max_shift)
        if low is None or high is None:
            return None
        band.append((low, high))
    return band
