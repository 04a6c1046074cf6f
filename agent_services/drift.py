"""Drift against the training window: the population stability index (PSI) of a model's risk
and main features over the latest logins, against the histograms its trainer stored.

PSI = sum over bins of (actual - expected) * ln(actual / expected); by the usual reading below
0.1 is stable, 0.1-0.25 a shift worth a look, above 0.25 a population the model was not
trained on. Bins are the training window's deciles (ties merged), plus one for missing values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

# Bins per quantity (deciles of the training window).
BINS = 10
# Logins the window looks back over, and the fewest before a PSI is reported (fewer would
# measure noise).
WINDOW = 2000
MIN_LOGINS = 200
# Floor of a bin's share, so that an empty bin does not make the index infinite.
_FLOOR = 1e-4
RISK = "risk"


class DriftReference(BaseModel):
    """metadata.json's `drift_reference`: per quantity, the inner bin edges and the share of
    the training window in each bin (the last bin: missing values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    edges: dict[str, list[float]] = Field(description="Inner edges, ascending.")
    shares: dict[str, list[float]] = Field(description="len(edges) + 2 shares summing to 1.")


def _bin(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    bins = np.searchsorted(edges, values, side="right")
    bins[np.isnan(values)] = len(edges) + 1
    return bins


def build_reference(columns: Mapping[str, np.ndarray]) -> DriftReference:
    """The reference histograms of the training window's values, one column per quantity."""
    edges, shares = {}, {}
    for name, column in columns.items():
        values = np.asarray(column, dtype=np.float64)
        present = values[~np.isnan(values)]
        inner = np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1])) if len(
            present) else np.array([])
        counts = np.bincount(_bin(values, inner), minlength=len(inner) + 2)
        edges[name] = [float(e) for e in inner]
        shares[name] = [float(c) for c in counts / max(len(values), 1)]
    return DriftReference(edges=edges, shares=shares)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(expected, _FLOOR)
    a = np.maximum(actual, _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


class DriftWindow:
    """The bins of the latest WINDOW logins, per quantity, in a ring. observe() runs on the
    serving thread and psi_by_quantity() on the scraper's: a read mid-write sees a row or two
    of one batch missing, which a rate over 2000 logins does not notice."""

    def __init__(self, reference: DriftReference, feature_names: Sequence[str]) -> None:
        self.names = list(reference.edges)
        # Where each watched feature is in a row of the model's input (RISK: the output).
        self._columns = [None if n == RISK else list(feature_names).index(n) for n in self.names]
        self._edges = [np.asarray(reference.edges[n]) for n in self.names]
        self._expected = [np.asarray(reference.shares[n]) for n in self.names]
        self._bins = np.zeros((WINDOW, len(self.names)), dtype=np.int16)
        self._next = 0
        self._seen = 0

    def observe(self, risks: np.ndarray, rows: np.ndarray) -> None:
        """One batch: the model's risks and input rows, in the batch's order."""
        batch = np.stack(
            [_bin(np.asarray(risks if c is None else rows[:, c], dtype=np.float64), e)
             for c, e in zip(self._columns, self._edges, strict=True)], axis=1
        )[-WINDOW:]
        rows = np.arange(self._next, self._next + len(batch)) % WINDOW
        self._bins[rows] = batch
        self._next = (self._next + len(batch)) % WINDOW
        self._seen += len(batch)

    def psi_by_quantity(self) -> dict[str, float]:
        """Each quantity's PSI over the window; empty until MIN_LOGINS have been seen."""
        filled = min(self._seen, WINDOW)
        if filled < MIN_LOGINS:
            return {}
        window = self._bins[:filled]
        return {
            name: psi(expected, np.bincount(window[:, j], minlength=len(expected)) / filled)
            for j, (name, expected) in enumerate(zip(self.names, self._expected, strict=True))
        }
