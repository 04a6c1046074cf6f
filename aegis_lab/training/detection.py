"""Trains the detection agent's XGBoost model on a replayed world and calibrates it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xgboost

from aegis_lab.training.calibration import Isotonic, fit_isotonic
from aegis_lab.training.dataset import ATTACKS, WorldData, type_balanced_weights
from aegis_lab.training.metrics import flagged_share, summarize
from aegis_lab.training.publish import json_bytes, publish
from aegis_runtime.artifacts import METADATA_FILE
from agent_services.detection import MODEL_FILE
from agent_services.detection_features import FEATURE_NAMES
from agent_services.drift import RISK, DriftReference, build_reference

# Features whose drift the agent watches beside its risk: the model's most used (by gain).
DRIFT_FEATURES = 5


@dataclass(frozen=True, slots=True)
class DetectionParams:
    """Boosting settings; few and conventional, not tuned to one world."""

    rounds: int = 300
    max_depth: int = 6
    learning_rate: float = 0.1
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 2.0
    # Trees fitted each round, each on its own sample of logins and features (XGBoost's
    # num_parallel_tree: a boosted random forest). Across three boosting seeds, recall at 0.1%
    # on six evaluation worlds spread by up to 0.13 (0.05 on average) with one tree a round and
    # by up to 0.05 (0.02) with three, at the same level on average (that threshold rests on a
    # few legitimate logins): the model a run publishes depends less on the draw. Serving
    # evaluates three times the trees (bench.agent_cpu: about +0.2 ms a login alone, nothing in
    # batches of 32).
    parallel_trees: int = 3
    threads: int = 2

    def booster_params(self, seed: int) -> dict[str, Any]:
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "num_parallel_tree": self.parallel_trees,
            "min_child_weight": self.min_child_weight,
            "nthread": self.threads,
            "seed": seed,
        }


@dataclass(slots=True)
class TrainedDetection:
    booster: xgboost.Booster
    calibration: Isotonic
    metrics: dict[str, Any]
    drift_reference: DriftReference


class _EachRound(xgboost.callback.TrainingCallback):
    def __init__(self, tick: Callable[[], object]) -> None:
        super().__init__()
        self.tick = tick

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self.tick()
        return False


def _matrix(data: WorldData, rows: np.ndarray,
            weight: np.ndarray | None = None) -> xgboost.DMatrix:
    return xgboost.DMatrix(data.features[rows], label=data.label[rows], weight=weight,
                           missing=np.nan, feature_names=list(FEATURE_NAMES))


def train(data: WorldData, params: DetectionParams, seed: int,
          on_round: Callable[[], object] = lambda: None) -> TrainedDetection:
    """Fit on the fitting users (attack types weighted alike: see type_balanced_weights),
    calibrate and measure on the holdout users (as they come: calibration is to the world's
    own share of attacks)."""
    fit, holdout = data.fit_rows, data.calibration_rows
    if not data.label[fit].any() or not data.label[holdout].any():
        raise ValueError("the world has no attacks on one side of the split: make it larger "
                         "or raise the attack share")
    booster = xgboost.train(
        params.booster_params(seed),
        _matrix(data, fit, type_balanced_weights(data.attack[fit])),
        num_boost_round=params.rounds,
        callbacks=[_EachRound(on_round)],
    )
    margins = booster.predict(_matrix(data, holdout), output_margin=True)
    labels = data.label[holdout]
    calibration = fit_isotonic(margins, labels)
    risks = calibration(margins)
    summary = summarize(labels, risks)
    attacks = data.attack[holdout]
    by_attack = {
        name: flagged_share(attacks == code, risks, summary.threshold_at_1pct)
        for code, name in enumerate(ATTACKS) if code and (attacks == code).any()
    }
    metrics = {
        "measured_on": "holdout users of the training world (calibration split)",
        **summary.to_json(),
        "recall_at_1pct_by_attack": by_attack,
        "rows": {"fit": int(fit.sum()), "holdout": int(holdout.sum()),
                 "fit_attacks": int(data.label[fit].sum()),
                 "holdout_attacks": int(labels.sum())},
    }
    return TrainedDetection(
        booster, calibration, metrics, drift_reference(booster, data.features[holdout], risks)
    )


def drift_reference(
    booster: xgboost.Booster, features: np.ndarray, risks: np.ndarray
) -> DriftReference:
    """Histograms of the risk and of the DRIFT_FEATURES most used features over the holdout
    logins of the training window: what the agent compares its latest logins with."""
    gain = booster.get_score(importance_type="total_gain")
    main = sorted(gain, key=lambda name: gain[name], reverse=True)[:DRIFT_FEATURES]
    return build_reference(
        {RISK: risks, **{name: features[:, FEATURE_NAMES.index(name)] for name in main}}
    )


def is_current(model_dir: Path) -> bool:
    """Whether `model_dir` holds a detection model trained on the features this code computes
    (a checkout that pulled new features keeps a model the agent would refuse to load)."""
    try:
        metadata = json.loads((model_dir / "detection" / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(metadata, dict) and tuple(metadata.get("features") or ()) == FEATURE_NAMES


def save(model_dir: Path, trained: TrainedDetection, data: WorldData, params: DetectionParams,
         world: dict[str, Any]) -> str:
    """Publish model.json and metadata.json; returns the model version."""
    created = datetime.now(UTC)
    data_hash = data.data_hash()
    version = f"detection-{created:%Y%m%dT%H%M%SZ}-{data_hash[:8]}"
    fit_times = data.timestamps[data.fit_rows]
    metadata = {
        "model_version": version,
        "features": list(FEATURE_NAMES),
        "created_at": created.isoformat(timespec="seconds"),
        "training_window": {
            "start": datetime.fromtimestamp(float(fit_times.min()), UTC).isoformat(),
            "end": datetime.fromtimestamp(float(fit_times.max()), UTC).isoformat(),
        },
        "world": world,
        "data_hash": data_hash,
        "params": asdict(params),
        "calibration": trained.calibration.to_json(),
        "metrics": trained.metrics,
        "drift_reference": trained.drift_reference.model_dump(),
    }
    model = trained.booster.save_raw(raw_format="json")
    publish(model_dir, {MODEL_FILE: bytes(model), METADATA_FILE: json_bytes(metadata)})
    return version
