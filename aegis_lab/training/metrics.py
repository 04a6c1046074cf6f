"""Ranking and calibration metrics over risk scores, measured, never assumed (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Scores = NDArray[np.floating]
Labels = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Curve:
    """Points of a ROC (x=false positive rate, y=recall) or PR (x=recall, y=precision) curve."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]

    @property
    def area(self) -> float:
        order = np.argsort(self.x, kind="stable")
        return float(np.trapezoid(self.y[order], self.x[order]))


def _sorted_counts(labels: Labels, scores: Scores) -> tuple[NDArray, NDArray, NDArray]:
    """Cumulative true and false positives when flagging the highest scores first, at
    every distinct score."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[distinct]
    fp = np.cumsum(~y)[distinct]
    return tp, fp, s[distinct]


def roc_curve(labels: Labels, scores: Scores) -> Curve:
    tp, fp, _ = _sorted_counts(labels, scores)
    positives, negatives = max(int(labels.sum()), 1), max(int((~labels).sum()), 1)
    return Curve(np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives])


def pr_curve(labels: Labels, scores: Scores) -> Curve:
    tp, fp, _ = _sorted_counts(labels, scores)
    positives = max(int(labels.sum()), 1)
    precision = tp / np.maximum(tp + fp, 1)
    # From recall 0 at the precision of the highest scores, so the area starts at 0.
    return Curve(np.r_[0.0, tp / positives], np.r_[precision[:1], precision])


def threshold_at_fpr(labels: Labels, scores: Scores, fpr: float) -> float:
    """The least threshold t such that flagging `score > t` flags at most `fpr` of the
    negatives: the operating point of a challenge budget on legitimate logins."""
    negatives = np.sort(scores[~labels])[::-1]
    allowed = int(np.floor(fpr * len(negatives)))
    if allowed >= len(negatives):
        return -np.inf
    return float(negatives[allowed])


def flagged_share(mask: Labels, scores: Scores, threshold: float) -> float:
    """Share of the logins in `mask` scored above the threshold (nan when there are none)."""
    chosen = scores[mask]
    return float((chosen > threshold).mean()) if len(chosen) else float("nan")


@dataclass(frozen=True, slots=True)
class Reliability:
    """Calibration per equal-width bin of predicted risk."""

    predicted: NDArray[np.float64]  # mean predicted risk per bin
    observed: NDArray[np.float64]  # share of positives per bin
    counts: NDArray[np.int64]

    @property
    def ece(self) -> float:
        """Expected calibration error: |observed - predicted| weighted by bin size."""
        total = self.counts.sum()
        gaps = np.abs(self.observed - self.predicted)
        return float((gaps * self.counts)[self.counts > 0].sum() / max(total, 1))


def reliability(labels: Labels, risks: Scores, bins: int = 10) -> Reliability:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(risks, edges[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    sums = np.bincount(which, weights=risks, minlength=bins)
    hits = np.bincount(which, weights=labels.astype(float), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return Reliability(sums / counts, hits / counts, counts)


@dataclass(frozen=True, slots=True)
class Summary:
    """The headline figures of one score against the truth."""

    roc_auc: float
    pr_auc: float
    recall_at_0_1pct: float
    recall_at_1pct: float
    threshold_at_1pct: float
    ece: float

    def to_json(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__slots__}


def summarize(labels: Labels, scores: Scores) -> Summary:
    """AUCs, recall at 0.1% and 1% of legitimate logins challenged, ECE (scores as risks)."""
    at_1pct = threshold_at_fpr(labels, scores, 0.01)
    at_01pct = threshold_at_fpr(labels, scores, 0.001)
    return Summary(
        roc_auc=roc_curve(labels, scores).area,
        pr_auc=pr_curve(labels, scores).area,
        recall_at_0_1pct=flagged_share(labels, scores, at_01pct),
        recall_at_1pct=flagged_share(labels, scores, at_1pct),
        threshold_at_1pct=at_1pct,
        ece=reliability(labels, scores).ece,
    )
