"""Detection agent: gradient-boosted trees (XGBoost) over features of the event and history."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, Reason, SignalStatus
from aegis_runtime.artifacts import Artifact, ArtifactError, import_for_artifact
from agent_services.detection_features import FEATURE_NAMES, FEATURES, DetectionFeatures
from agent_services.trained import TrainedModelAgent

if TYPE_CHECKING:
    from agent_services.drift import DriftWindow

MODEL_FILE = "model.json"
# Reasons: the features that pushed the margin up most, each by at least this many log-odds.
MAX_REASONS = 4
MIN_REASON_LOG_ODDS = 0.5
# Confidence: how many calibration logins back the probability given (half at this many).
HALF_CONFIDENCE_SUPPORT = 50.0
_LABELS = {spec.name: spec.label for spec in FEATURES}


class Calibration(BaseModel):
    """The isotonic map from the model's margin to a probability (see aegis_lab.training)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    knots: list[float] = Field(min_length=1)
    probabilities: list[float] = Field(min_length=1)
    support: list[float] = Field(min_length=1)


class DetectionMetadata(BaseModel):
    """What the detection agent needs of metadata.json beyond the model version."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    features: list[str]
    calibration: Calibration
    # Histograms of the training window (agent_services.drift); models trained before it was
    # stored have none, and report no drift.
    drift_reference: dict[str, Any] | None = None


class DetectionScorer:
    """A loaded booster, its calibration and the feature code: (event, context) -> signal."""

    def __init__(
        self, booster: Any, calibration: Calibration, model_version: str,
        numpy: ModuleType, xgboost: ModuleType,
    ) -> None:
        self.np = numpy
        self.xgboost = xgboost
        self.booster = booster
        self.knots = numpy.asarray(calibration.knots)
        self.probabilities = numpy.asarray(calibration.probabilities)
        self.support = numpy.asarray(calibration.support)
        self.model_version = model_version
        self.features = DetectionFeatures()
        # The latest logins' risk and main features, for drift (set by read_model).
        self.drift: DriftWindow | None = None

    def assess_batch(
        self, requests: Sequence[tuple[LoginEvent, LoginContext]], agent: str
    ) -> list[AgentSignal]:
        """One XGBoost call for the whole batch."""
        np = self.np
        rows = np.asarray(
            [self.features.vector(event, context) for event, context in requests],
            dtype=np.float32,
        ).reshape(len(requests), len(FEATURE_NAMES))
        # No feature names on the matrix, and no check of them per call (it cost as much as
        # the prediction of a small batch): read_model checked once that the booster was
        # trained on FEATURE_NAMES, in this order.
        matrix = self.xgboost.DMatrix(rows, missing=math.nan, nthread=1)
        # XGBoost's own attribution, path-based (approx_contribs: Saabas): a quarter of the
        # cost of exact TreeSHAP per login, and it too sums to the margin (the last column is
        # the bias), so one call gives both the risk and the reasons.
        contributions = self.booster.predict(
            matrix, pred_contribs=True, approx_contribs=True, validate_features=False
        )
        margins = contributions.sum(axis=1)
        risks = np.interp(margins, self.knots, self.probabilities)
        supports = np.interp(margins, self.knots, self.support)
        if self.drift is not None:
            self.drift.observe(risks, rows)
        return [
            AgentSignal(
                agent=agent,
                status=SignalStatus.OK,
                risk=float(risks[i]),
                confidence=float(supports[i] / (supports[i] + HALF_CONFIDENCE_SUPPORT)),
                reasons=_reasons(rows[i], contributions[i, :-1]),
                model_version=self.model_version,
            )
            for i in range(len(requests))
        ]


def _reasons(values: Any, contributions: Any) -> list[Reason]:
    """The features that raised the risk most, in XGBoost's own attribution."""
    ranked = sorted(range(len(contributions)), key=lambda i: -contributions[i])
    reasons = []
    for index in ranked[:MAX_REASONS]:
        push = float(contributions[index])
        if push < MIN_REASON_LOG_ODDS:
            break
        name = FEATURE_NAMES[index]
        value = float(values[index])
        shown = "unknown" if math.isnan(value) else f"{value:g}"
        reasons.append(Reason(
            code=f"DETECTION_{name.upper()}",
            message=f"{_LABELS[name]}: {shown} (+{push:.2f} log-odds)",
            weight=push,
        ))
    return reasons


class DetectionAgent(TrainedModelAgent):
    """Reads `model_dir/model.json` (XGBoost's JSON format) and `model_dir/metadata.json`
    (feature list, calibration, training window, data hash, metrics: see aegis_lab.training)."""

    name = "detection"
    model_file = MODEL_FILE
    summary = "XGBoost classifier over features derived from the login and the user's history."

    def __init__(self, model_dir: Path) -> None:
        super().__init__(model_dir)
        self.scorer: DetectionScorer | None = None

    def read_model(self, artifact: Artifact) -> object:
        xgboost = import_for_artifact("xgboost", "detection", artifact.model_path)
        booster = xgboost.Booster()
        try:
            booster.load_model(str(artifact.model_path))
        except xgboost.core.XGBoostError as exc:
            raise ArtifactError(f"cannot load XGBoost model {artifact.model_path}: {exc}") from exc
        # Batches are small (tens of logins): OpenMP threads would only spin, taking CPU from
        # the other services on the machine (and from this one's own requests).
        booster.set_param({"nthread": 1})
        expected = len(artifact.metadata.features)
        if expected and booster.num_features() != expected:
            raise ArtifactError(
                f"{artifact.model_path} takes {booster.num_features()} features but its "
                f"metadata lists {expected}"
            )
        try:
            metadata = DetectionMetadata.model_validate(artifact.metadata.model_dump())
        except ValidationError as exc:
            raise ArtifactError(f"{self.model_dir / 'metadata.json'}: {exc}") from exc
        trained_on = booster.feature_names
        if tuple(metadata.features) != FEATURE_NAMES or (
            trained_on is not None and tuple(trained_on) != FEATURE_NAMES
        ):
            raise ArtifactError(
                f"{artifact.model_path} was trained on other features than this code computes "
                "(retrain it: make train)"
            )
        numpy = import_for_artifact("numpy", "detection", artifact.model_path)
        self.scorer = DetectionScorer(
            booster, metadata.calibration, artifact.metadata.model_version, numpy, xgboost
        )
        if metadata.drift_reference is not None:
            # Imported here: it needs numpy, which only the detection extra brings.
            from agent_services.drift import DriftReference, DriftWindow

            try:
                reference = DriftReference.model_validate(metadata.drift_reference)
                self.scorer.drift = DriftWindow(reference, FEATURE_NAMES)
            except ValueError as exc:  # a ValidationError, or a feature this code lacks
                raise ArtifactError(f"{self.model_dir / 'metadata.json'}: {exc}") from exc
        return booster

    def score_batch(
        self, requests: Sequence[tuple[LoginEvent, LoginContext]]
    ) -> list[AgentSignal]:
        assert self.scorer is not None  # read_model sets it with the artifact
        return self.scorer.assess_batch(requests, self.name)

    def drift(self) -> dict[str, float]:
        if self.scorer is None or self.scorer.drift is None:
            return {}
        return self.scorer.drift.psi_by_quantity()


def make_agent(model_dir: Path) -> DetectionAgent:
    """The registry's entry point."""
    return DetectionAgent(model_dir)
