"""Fits the router's learned combiner: a logistic combiner over the agents' risks.

Trained on holdout users (none of whom the detection model was fitted on), from the signals
the agents give in-process for the logins of the world kept whole. Each login also appears
with one agent left out, at a small weight, so that a timeout at serving time shifts the
risk the way a missing opinion should, not arbitrarily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aegis_domain.types import AgentSignal
from aegis_lab.training.metrics import flagged_share, summarize, threshold_at_fpr
from aegis_lab.training.publish import json_bytes
from router_service.combine import logit
from router_service.combiner import (
    COMBINER_FILE,
    FITTED_RISK_CLIP,
    AgentTerm,
    CombinerFile,
    Fallback,
)

# Weight of each copy of a login with one agent left out, relative to the whole login: about
# how often an agent is missing from a decision (the cluster evaluations saw each agent time
# out in 0.5-2.3% of decisions). Far more makes the shared weights serve the degraded case
# at the cost of the usual one: in 5-fold cross-validation on a combiner world, with agents
# missing at 1.5%, 0.02 gave a recall at 1% of 0.972 where 0.05 gave 0.968 (and 0, 0.961).
LEFT_OUT_WEIGHT = 0.02
# L2 penalty: the combiner has few parameters and plenty of data, this only keeps Newton's
# method stable when an agent separates the classes perfectly.
RIDGE = 1.0
_NEWTON_STEPS = 50
# How far each agent's weight moves toward the agents' mean weight: a prior that every agent
# counts alike, against weights that fit one world's correlations too well. (Not tuned to any
# evaluation world; 0 is the plain fit, 1 the unweighted pool.)
SHRINKAGE = 0.3
# Shares of legitimate logins challenged at which the combiner file states the risk.
CHALLENGE_SHARES = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
_TIE_MARGIN = 1e-9


# How far the agents besides the best one may be trusted, tried from full trust down: the
# first at which the mesh ranks the logins better than the best agent alone (at least as well
# at both operating points on the validation world and on the combiner world, by MIN_GAIN
# better at one)
# is kept; else 0, the best agent's own ranking, which ties it. A tie at a partial trust is no
# gain and only noise on the next world: it went below the best agent there. The small steps
# let the others break near-ties of the best agent without reordering its confident logins.
TRUST_STEPS = (1.0, 0.75, 0.5, 0.25, 0.1, 0.05, 0.0)
# What counts as better: recall higher by at least this much. Retraining the same models on
# the same worlds moves an agent's recall by about a point; a gain of one or two attacks
# (trust 0.1 on the validation and combiner worlds) went below the best agent on the next.
MIN_GAIN = 0.01
# The validation world's operating points, as shares of its legitimate logins flagged.
_VALIDATION_FPRS = (0.01, 0.001)


@dataclass(frozen=True, slots=True)
class CombinerRows:
    """Per login: each agent's signal (None when it did not answer), truth and weight;
    `validation` marks the logins of a world unlike the training generator's (the shifted
    combiner world) on which the mesh must rank at least as well as its best agent."""

    signals: list[dict[str, AgentSignal]]
    labels: NDArray[np.bool_]
    weights: NDArray[np.float64]
    validation: NDArray[np.bool_] | None = None


def _design(signals: Sequence[dict[str, AgentSignal]], agents: Sequence[str]) -> NDArray:
    columns = 1 + 2 * len(agents)
    x = np.zeros((len(signals), columns))
    x[:, 0] = 1.0
    for row, by_agent in enumerate(signals):
        for k, agent in enumerate(agents):
            signal = by_agent.get(agent)
            if signal is not None and signal.present:
                x[row, 1 + 2 * k] = 1.0
                x[row, 2 + 2 * k] = logit(signal.risk, FITTED_RISK_CLIP)
    return x


def _augmented(rows: CombinerRows, agents: Sequence[str]) -> tuple[NDArray, NDArray, NDArray]:
    x = [_design(rows.signals, agents)]
    y, w = [rows.labels], [rows.weights]
    for agent in agents:
        without = [{k: v for k, v in s.items() if k != agent} for s in rows.signals]
        x.append(_design(without, agents))
        y.append(rows.labels)
        w.append(rows.weights * LEFT_OUT_WEIGHT)
    return np.vstack(x), np.concatenate(y), np.concatenate(w)


def _newton(x: NDArray, y: NDArray, w: NDArray, free: NDArray[np.bool_],
            beta: NDArray) -> NDArray:
    """Weighted ridge logistic regression over the `free` coefficients (the others stay as
    they are in `beta`), by Newton's method."""
    beta = beta.copy()
    offset_columns = ~free
    penalty = np.full(int(free.sum()), RIDGE)
    if free[0]:
        penalty[0] = 0.0  # the intercept is not shrunk
    xf = x[:, free]
    for _ in range(_NEWTON_STEPS):
        p = 1 / (1 + np.exp(-(xf @ beta[free] + x[:, offset_columns] @ beta[offset_columns])))
        gradient = xf.T @ (w * (y - p)) - penalty * beta[free]
        hessian = (xf * (w * p * (1 - p))[:, None]).T @ xf + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta[free] += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def fit(rows: CombinerRows, agents: Sequence[str]) -> tuple[NDArray, dict[str, Any]]:
    """Weights that cannot invert, shrunk toward an unweighted pool; returns the coefficients
    and in-sample figures (the evaluation measures it honestly on a held-out world).

    A negative weight (an agent whose higher risk lowers the mesh's) is an artefact of the
    fitting world's correlations that a shift turns against us: such weights are held at 0
    and the rest refitted, until none is negative. Then every weight moves SHRINKAGE of the
    way to their mean, an unweighted pool that no world's quirks chose, and the intercept
    and biases are refitted for calibration.
    """
    x, y, w = _augmented(rows, agents)
    weight_columns = np.arange(2, x.shape[1], 2)
    free = np.ones(x.shape[1], dtype=bool)
    beta = np.zeros(x.shape[1])
    while True:
        beta = _newton(x, y, w, free, beta)
        negative = weight_columns[beta[weight_columns] < 0]
        if not len(negative):
            break
        beta[negative], free[negative] = 0.0, False
    pooled = beta[weight_columns].mean() if len(weight_columns) else 0.0
    beta[weight_columns] = (1 - SHRINKAGE) * beta[weight_columns] + SHRINKAGE * pooled
    free[:], free[weight_columns] = True, False
    beta = _newton(x, y, w, free, beta)
    whole = _design(rows.signals, agents)
    validated: dict[str, Any] = {}
    if rows.validation is not None and rows.validation.any():
        checks = [(rows.labels[rows.validation], whole[rows.validation])]
        if not rows.validation.all():
            checks.append((rows.labels[~rows.validation], whole[~rows.validation]))
        beta, validated = _trusted(beta, (x, y, w, free), checks, agents)
    risks = 1 / (1 + np.exp(-(whole @ beta)))
    figures = summarize(rows.labels, risks).to_json()
    return beta, {"measured_on": "its own training logins (in-sample)", **figures,
                  **validated, "risk_at_challenge_share": challenge_risks(risks, rows)}


def _recalls(labels: NDArray[np.bool_], scores: NDArray) -> tuple[float, ...]:
    return tuple(flagged_share(labels, scores, threshold_at_fpr(labels, scores, fpr))
                 for fpr in _VALIDATION_FPRS)


def _trusted(beta: NDArray, problem: tuple[NDArray, NDArray, NDArray, NDArray[np.bool_]],
             checks: Sequence[tuple[NDArray[np.bool_], NDArray]], agents: Sequence[str]
             ) -> tuple[NDArray, dict[str, Any]]:
    """The whole no worse than its best part where it matters: the weights of the agents
    besides the one that ranks the validation logins best alone are scaled down (TRUST_STEPS,
    the intercept and biases refitted for calibration) until the mesh's recall at 1% and at
    0.1% is at least that agent's on every checked world and MIN_GAIN above it once; at trust 0 the
    mesh ranks as that agent does.
    problem: the fit's (x, y, w, free); checks: (labels, design) of the validation world (the
    shifted one: logins the training generator did not make), then of the combiner world.
    The validation world alone is too small a judge: its 0.1% of legitimate logins is a
    handful, and a trust it chose on one or two attacks lost at 1% on the combiner world."""
    labels, design = checks[0]
    alone = {agent: _recalls(labels, design[:, 2 + 2 * k]) for k, agent in enumerate(agents)}
    best = max(alone, key=lambda agent: alone[agent])
    column = 2 + 2 * list(agents).index(best)
    references = [_recalls(labels, design[:, column]) for labels, design in checks]
    others = np.array([2 + 2 * k for k, agent in enumerate(agents) if agent != best], dtype=int)
    for trust in TRUST_STEPS:
        trial = beta.copy()
        trial[others] *= trust
        trial = _newton(*problem, trial)
        meshes = [_recalls(labels, design @ trial) for labels, design in checks]
        pairs = [pair for mesh, reference in zip(meshes, references, strict=True)
                 for pair in zip(mesh, reference, strict=True)]
        if all(m >= a for m, a in pairs) and any(m >= a + MIN_GAIN for m, a in pairs):
            break
    return trial, {"validation": {
        "world": "shifted combiner world", "best_agent": best, "trust_in_the_others": trust,
        "recall_at_1pct_and_0_1pct": {"mesh": meshes[0], **alone},
        "combiner_world_recall_at_1pct_and_0_1pct": {"mesh": meshes[-1], best: references[-1]},
        # The coefficients at full trust: what a decision without the best agent uses.
        "untrusted_beta": beta.tolist(),
    }}


def challenge_risks(risks: NDArray, rows: CombinerRows) -> dict[float, float]:
    """For each share in CHALLENGE_SHARES, the least risk that challenges at most that share of
    the legitimate logins (weighted as sampled): the policy's budgets become risks by it."""
    legit = ~rows.labels
    order = np.argsort(-risks[legit])
    ranked, weights = risks[legit][order], rows.weights[legit][order]
    within = np.cumsum(weights) / max(float(weights.sum()), 1e-12)
    table = {}
    for share in CHALLENGE_SHARES:
        # The first login beyond the budget, and every login tied with it, stay allowed (the
        # margin covers the router's own arithmetic of the same risk).
        first_out = min(int(np.searchsorted(within, share, side="right")), len(ranked) - 1)
        table[share] = float(ranked[first_out]) + _TIE_MARGIN
    return table


def combiner_file(beta: NDArray, agents: Sequence[str], metrics: dict[str, Any],
                 data_hash: str) -> CombinerFile:
    version = f"combiner-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{data_hash[:8]}"
    validation = metrics.get("validation") or {}
    trusted_less = validation.get("trust_in_the_others", 1.0) < 1.0
    return CombinerFile(
        model_version=version,
        intercept=float(beta[0]),
        agents=_terms(beta, agents),
        primary=validation["best_agent"] if trusted_less else None,
        fallback=Fallback(intercept=validation["untrusted_beta"][0],
                          agents=_terms(np.array(validation["untrusted_beta"]), agents))
        if trusted_less else None,
        metrics=metrics,
        data_hash=data_hash,
        risk_clip=FITTED_RISK_CLIP,
        risk_at_challenge_share=metrics["risk_at_challenge_share"],
    )


def _terms(beta: NDArray, agents: Sequence[str]) -> dict[str, AgentTerm]:
    return {agent: AgentTerm(bias=float(beta[1 + 2 * k]), weight=float(beta[2 + 2 * k]))
            for k, agent in enumerate(agents)}


def save(path: Path, combiner: CombinerFile) -> None:
    """Write combiner.json (one file: a rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{COMBINER_FILE}.new")
    partial.write_bytes(json_bytes(combiner.model_dump()))
    partial.replace(path)
