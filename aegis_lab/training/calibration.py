"""Isotonic calibration (pool adjacent violators) of a model's margin into a probability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Isotonic:
    """A non-decreasing map from margin to probability, through the blocks of PAV.

    Between block centres the probability is interpolated linearly (a step function would
    make risks jump between neighbouring logins); beyond them it is held at the end values.
    `support` is how many calibration logins each block pooled.
    """

    knots: NDArray[np.float64]
    probabilities: NDArray[np.float64]
    support: NDArray[np.float64]

    def __call__(self, margins: NDArray[np.floating]) -> NDArray[np.float64]:
        return np.interp(margins, self.knots, self.probabilities)

    def to_json(self) -> dict[str, list[float]]:
        return {
            "knots": self.knots.tolist(),
            "probabilities": self.probabilities.tolist(),
            "support": self.support.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> Isotonic:
        arrays = [np.asarray(data[key], dtype=np.float64)
                  for key in ("knots", "probabilities", "support")]
        if len({len(a) for a in arrays}) != 1 or not len(arrays[0]):
            raise ValueError("knots, probabilities and support must be non-empty, equally long")
        if np.any(np.diff(arrays[0]) < 0) or np.any(np.diff(arrays[1]) < 0):
            raise ValueError("knots and probabilities must be non-decreasing")
        return cls(*arrays)


def fit_isotonic(margins: NDArray[np.floating], labels: NDArray[np.bool_],
                 weights: NDArray[np.floating] | None = None) -> Isotonic:
    """Least-squares non-decreasing fit of `labels` on `margins`."""
    order = np.argsort(margins, kind="stable")
    x = np.asarray(margins, dtype=np.float64)[order]
    y = np.asarray(labels, dtype=np.float64)[order]
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)[order]
    # Blocks as parallel lists: weighted sum of y, weight, weighted sum of x, count.
    sum_y: list[float] = []
    sum_w: list[float] = []
    sum_x: list[float] = []
    count: list[float] = []
    for xi, yi, wi in zip(x, y, w, strict=True):
        sum_y.append(wi * yi)
        sum_w.append(wi)
        sum_x.append(wi * xi)
        count.append(1.0)
        # Merge back while the newest block's mean is not above the one before it (equal
        # means merge too: fewer knots, the same map).
        while len(sum_y) > 1 and sum_y[-1] * sum_w[-2] <= sum_y[-2] * sum_w[-1]:
            for column in (sum_y, sum_w, sum_x, count):
                last = column.pop()
                column[-1] += last
    totals = np.asarray(sum_w)
    return Isotonic(
        knots=np.asarray(sum_x) / totals,
        probabilities=np.asarray(sum_y) / totals,
        support=np.asarray(count),
    )
