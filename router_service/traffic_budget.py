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
window decides."""

from __future__ import annotations

import numpy as np

from router_service.policy import Budget, Policy, RiskTable, RiskThresholds


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
        self._min = min_decisions
        self._refresh_every = max(1, size // self.REFRESHES)
        self._since = 0
        budget = policy.spec.budget
        self._budget = budget
        self._band = _band(budget, table, max_shift) if budget is not None and size else None
        self.window = RiskWindow(size) if self._band is not None else None

    def observe(self, risk: float) -> None:
        """One more live decision's combined risk."""
        if self.window is None:
            return
        self.window.add(risk)
        self._since += 1
        if self._since >= self._refresh_every and self.window.count >= self._min:
            self._since = 0
            self.current = self._from_window()

    def _from_window(self) -> RiskThresholds:
        assert self.window is not None and self._band is not None and self._budget is not None
        shares = (self._budget.challenge, self._budget.block_temporary,
                  self._budget.escalate_above)
        quantiles = self.window.quantiles([1 - share for share in shares])
        challenge, block, escalate = (
            min(max(q, low), high) for q, (low, high) in zip(quantiles, self._band, strict=True)
        )
        block = max(block, challenge)
        return RiskThresholds(challenge, block, max(self.calibrated.critical, block), escalate,
                              self.window.count)


def _band(budget: Budget, table: RiskTable | None, max_shift: float
          ) -> list[tuple[float, float]] | None:
    """(lowest, highest) risk for the challenge, block and escalate thresholds; None when
    the table states no risks (no trained combiner: the policy's own risks serve)."""
    if table is None:
        return None
    band = []
    for share in (budget.challenge, budget.block_temporary, budget.escalate_above):
        low = table.risk_at_share(min(share * max_shift, 1.0))
        high = table.risk_at_share(share / max_shift)
        if low is None or high is None:
            return None
        band.append((low, high))
    return band
