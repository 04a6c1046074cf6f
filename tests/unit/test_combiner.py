"""The learned combiner: its formula, missing and unknown agents, its file, and the fit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from aegis_domain.types import AgentSignal, SignalStatus
from aegis_lab.training import combiner_fit
from aegis_runtime.artifacts import ArtifactError
from router_service.combine import combine, logit
from router_service.combiner import LogisticCombiner, load_combiner

WEIGHTS = {"detection": 1.5, "geo": 1.0}


def ok(agent: str, risk: float) -> AgentSignal:
    return AgentSignal(agent=agent, status=SignalStatus.OK, risk=risk, confidence=0.9)


def write(path: Path, **document: object) -> Path:
    path.write_text(json.dumps({"model_version": "s-1", "intercept": -4.0, "agents": {
        "detection": {"bias": 1.0, "weight": 0.8}, "geo": {"bias": 0.5, "weight": 0.2}},
        **document}))
    return path


def test_the_risk_is_the_logistic_of_the_present_agents_terms(tmp_path: Path) -> None:
    combiner = load_combiner(write(tmp_path / "combiner.json"))
    assert combiner is not None
    z = -4.0 + 1.0 + 0.8 * logit(0.9) + 0.5 + 0.2 * logit(0.2)
    both = combine([ok("detection", 0.9), ok("geo", 0.2)], WEIGHTS, combiner)
    assert both.risk == pytest.approx(1 / (1 + math.exp(-z)))
    # A timed-out agent adds nothing; an agent the combiner never saw is ignored.
    timed_out = AgentSignal(agent="geo", status=SignalStatus.TIMEOUT)
    alone = combine([ok("detection", 0.9), timed_out, ok("other", 0.99)], WEIGHTS, combiner)
    z_alone = -4.0 + 1.0 + 0.8 * logit(0.9)
    assert alone.risk == pytest.approx(1 / (1 + math.exp(-z_alone)))
    assert alone.missing == ("geo",)


def test_no_file_no_combiner_and_a_bad_file_refuses(tmp_path: Path) -> None:
    assert load_combiner(tmp_path / "absent.json") is None
    with pytest.raises(ArtifactError, match="agents"):
        load_combiner(write(tmp_path / "bad.json", agents={}))


def test_the_fit_recovers_which_agent_knows(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    labels = rng.random(4_000) < 0.1
    # detection separates the classes; geo is noise.
    signals = [
        {"detection": ok("detection", 0.9 if y else 0.05), "geo": ok("geo", rng.random())}
        for y in labels
    ]
    rows = combiner_fit.CombinerRows(signals, labels, np.ones(len(labels)))
    beta, metrics = combiner_fit.fit(rows, ["detection", "geo"])
    spec = combiner_fit.combiner_file(beta, ["detection", "geo"], metrics, "hash")
    assert abs(spec.agents["detection"].weight) > 5 * abs(spec.agents["geo"].weight)
    assert metrics["recall_at_1pct"] == 1.0
    combiner_fit.save(tmp_path / "router" / "combiner.json", spec)
    loaded = load_combiner(tmp_path / "router" / "combiner.json")
    assert loaded is not None
    assert loaded.risk([ok("detection", 0.9)]) > 0.5 > loaded.risk([ok("detection", 0.05)])


def test_the_fit_reads_an_agent_that_ranks_logins_far_below_one_in_ten_thousand(
    tmp_path: Path,
) -> None:
    """The behavior agent's risks lie between 1e-9 and 1e-3: read through the unweighted pool's
    clip at 1e-4 its ranking would be a tie. The fitted combiner reads risks as they were
    fitted (the file states its clip); a file without one keeps 1e-4, as it was fitted."""
    rng = np.random.default_rng(7)
    labels = rng.random(4_000) < 0.1
    signals = [{"behavior": ok("behavior", 1e-6 if y else 1e-8), "geo": ok("geo", rng.random())}
               for y in labels]
    rows = combiner_fit.CombinerRows(signals, labels, np.ones(len(labels)))
    beta, metrics = combiner_fit.fit(rows, ["behavior", "geo"])
    spec = combiner_fit.combiner_file(beta, ["behavior", "geo"], metrics, "hash")
    combiner_fit.save(tmp_path / "combiner.json", spec)
    loaded = load_combiner(tmp_path / "combiner.json")
    assert loaded is not None

    assert metrics["recall_at_1pct"] == 1.0
    assert loaded.risk([ok("behavior", 1e-6)]) > 0.5 > loaded.risk([ok("behavior", 1e-8)])
    older = load_combiner(write(tmp_path / "older.json", agents={
        "behavior": {"bias": 0.0, "weight": 1.0}}))
    assert older is not None
    assert older.risk([ok("behavior", 1e-6)]) == older.risk([ok("behavior", 1e-8)])


def test_a_weight_cannot_invert_and_every_weight_leans_toward_the_pool() -> None:
    """geo is anti-correlated with attacks in this world (a quirk a shift turns around): its
    weight is held at 0 before shrinkage, never negative, so the mesh stays monotone in it."""
    rng = np.random.default_rng(3)
    labels = rng.random(4_000) < 0.1
    signals = [
        {"detection": ok("detection", 0.9 if y else 0.05),
         "geo": ok("geo", 0.05 if y else 0.5 + 0.4 * rng.random())}
        for y in labels
    ]
    rows = combiner_fit.CombinerRows(signals, labels, np.ones(len(labels)))
    beta, _ = combiner_fit.fit(rows, ["detection", "geo"])
    spec = combiner_fit.combiner_file(beta, ["detection", "geo"], {
        "risk_at_challenge_share": {}}, "hash")
    detection, geo = spec.agents["detection"].weight, spec.agents["geo"].weight
    assert geo >= 0
    # Shrinkage: geo's 0 and detection's w became S w / 2 and (1 - S / 2) w.
    half = combiner_fit.SHRINKAGE / 2
    assert geo == pytest.approx(half * detection / (1 - half), rel=1e-6)


def test_the_file_states_the_risk_at_each_challenge_share(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    labels = rng.random(6_000) < 0.05
    signals = [{"detection": ok("detection", 0.98 * rng.random() ** (0.2 if y else 1))}
               for y in labels]
    rows = combiner_fit.CombinerRows(signals, labels, np.ones(len(labels)))
    beta, metrics = combiner_fit.fit(rows, ["detection"])
    spec = combiner_fit.combiner_file(beta, ["detection"], metrics, "hash")
    combiner_fit.save(tmp_path / "combiner.json", spec)
    combiner = load_combiner(tmp_path / "combiner.json")
    assert combiner is not None
    risks = np.array([combiner.risk([s["detection"]]) for s in signals])
    legit = risks[~labels]
    for share in (0.001, 0.01, 0.05):
        threshold = combiner.risk_at_share(share)
        assert threshold is not None
        assert (legit >= threshold).mean() <= share
        assert (legit >= threshold).mean() > share / 2
    between = combiner.risk_at_share(0.003)
    assert combiner.risk_at_share(0.005) <= between <= combiner.risk_at_share(0.002)


def _signals(detection: np.ndarray, geo: np.ndarray) -> list[dict[str, AgentSignal]]:
    return [{"detection": ok("detection", float(d)), "geo": ok("geo", float(g))}
            for d, g in zip(detection, geo, strict=True)]


def _joined(fitted: np.ndarray, shifted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two worlds' labels as one, and which logins are the shifted (validation) world's."""
    return np.concatenate([fitted, shifted]), np.arange(len(fitted) + len(shifted)) >= len(fitted)


def test_on_a_shifted_validation_world_the_mesh_ranks_at_least_as_well_as_its_best_agent(
) -> None:
    """geo separates the classes of the combiner world but is noise on the shifted one, where
    only detection knows: geo's trust is cut until the mesh there is no worse than detection."""
    rng = np.random.default_rng(11)

    def world(n: int, geo_knows: bool) -> tuple[list[dict[str, AgentSignal]], np.ndarray]:
        labels = rng.random(n) < 0.1
        detection = np.clip(0.5 + np.where(labels, 0.2, -0.2) + rng.normal(0, 0.15, n), 0, 1)
        geo = np.where(labels, 0.9, 0.05) if geo_knows else rng.random(n)
        return _signals(detection, geo), labels

    fitted, fitted_labels = world(4_000, geo_knows=True)
    shifted, shifted_labels = world(4_000, geo_knows=False)
    labels, validation = _joined(fitted_labels, shifted_labels)
    agents = ["detection", "geo"]

    def recalls(rows: combiner_fit.CombinerRows) -> tuple[tuple[float, ...], dict]:
        beta, metrics = combiner_fit.fit(rows, agents)
        design = combiner_fit._design(shifted, agents)
        return combiner_fit._recalls(shifted_labels, design @ beta), metrics

    alone = combiner_fit._recalls(
        shifted_labels, np.array([s["detection"].risk for s in shifted]))
    unchecked, _ = recalls(combiner_fit.CombinerRows(fitted + shifted, labels,
                                                     np.ones(len(labels))))
    checked, metrics = recalls(combiner_fit.CombinerRows(fitted + shifted, labels,
                                                         np.ones(len(labels)), validation))
    assert unchecked[0] < alone[0]
    assert all(m >= a for m, a in zip(checked, alone, strict=True))
    assert metrics["validation"]["best_agent"] == "detection"
    assert metrics["validation"]["trust_in_the_others"] < 1
    # A decision without detection falls back on the others at full trust.
    rows = combiner_fit.CombinerRows(fitted + shifted, labels, np.ones(len(labels)), validation)
    spec = combiner_fit.combiner_file(*combiner_fit.fit(rows, agents)[:1], agents,
                                      metrics, "hash")
    combiner = LogisticCombiner(spec, "v")
    assert spec.primary == "detection" and spec.fallback is not None
    assert combiner.risk([ok("geo", 0.9)]) > combiner.risk([ok("geo", 0.05)]) + 0.1


def test_others_that_only_tie_the_best_agent_on_the_shifted_world_are_not_trusted() -> None:
    """Where detection alone already ranks the shifted world perfectly, geo can add nothing
    there: a partial trust that merely ties would be noise on the next world, so the mesh
    keeps detection's own ranking (trust 0), an honest tie."""
    rng = np.random.default_rng(3)
    labels = rng.random(4_000) < 0.1
    fitted = [{"detection": ok("detection", 0.6 if y else 0.4),
               "geo": ok("geo", 0.9 if y else 0.05)} for y in labels[:2_000]]
    shifted = [{"detection": ok("detection", 0.99 if y else 0.01),
                "geo": ok("geo", float(rng.random()))} for y in labels[2_000:]]
    validation = np.arange(len(labels)) >= 2_000

    _, metrics = combiner_fit.fit(combiner_fit.CombinerRows(
        fitted + shifted, labels, np.ones(len(labels)), validation), ["detection", "geo"])

    assert metrics["validation"]["recall_at_1pct_and_0_1pct"]["detection"] == (1.0, 1.0)
    assert metrics["validation"]["trust_in_the_others"] == 0.0


def test_a_trust_that_gains_on_the_shifted_world_but_loses_on_the_combiner_world_is_cut() -> None:
    """geo knows the shifted world's attacks and is noise on the combiner world, where
    detection ranks well but not perfectly: trusting geo in full would gain on the shifted
    world and lose on the other, so the trust kept is one under which the mesh is no worse
    than detection on either world."""
    rng = np.random.default_rng(5)

    def world(n: int, geo_knows: bool) -> tuple[list[dict[str, AgentSignal]], np.ndarray]:
        labels = rng.random(n) < 0.1
        detection = np.clip(0.5 + np.where(labels, 0.25, -0.25) + rng.normal(0, 0.12, n), 0, 1)
        geo = (np.clip(np.where(labels, 0.7, 0.3) + rng.normal(0, 0.2, n), 0, 1) if geo_knows
               else rng.random(n))
        return _signals(detection, geo), labels

    fitted, fitted_labels = world(6_000, geo_knows=False)
    shifted, shifted_labels = world(4_000, geo_knows=True)
    labels, validation = _joined(fitted_labels, shifted_labels)
    agents = ["detection", "geo"]

    beta, metrics = combiner_fit.fit(combiner_fit.CombinerRows(
        fitted + shifted, labels, np.ones(len(labels)), validation), agents)

    design = combiner_fit._design(fitted, agents)
    alone = combiner_fit._recalls(fitted_labels, design[:, 2])
    full = beta.copy()
    full[4] = metrics["validation"]["untrusted_beta"][4]
    assert combiner_fit._recalls(fitted_labels, design @ full)[0] < alone[0]
    assert metrics["validation"]["trust_in_the_others"] < 1
    mesh = combiner_fit._recalls(fitted_labels, design @ beta)
    assert all(m >= a for m, a in zip(mesh, alone, strict=True))
