"""Detection agent: gradient-boosted trees (XGBoost) over features of the event and history."""

from __future__ import annotations

from pathlib import Path

from agent_services.artifacts import Artifact, ArtifactError, import_for_artifact
from agent_services.trained import TrainedModelAgent

MODEL_FILE = "model.json"


class DetectionAgent(TrainedModelAgent):
    """Reads `model_dir/model.json` (XGBoost's JSON format) and `model_dir/metadata.json`."""

    name = "detection"
    model_file = MODEL_FILE
    summary = "XGBoost classifier over features derived from the login and the user's history."

    def read_model(self, artifact: Artifact) -> object:
        xgboost = import_for_artifact("xgboost", "detection", artifact.model_path)
        booster = xgboost.Booster()
        try:
            booster.load_model(str(artifact.model_path))
        except xgboost.core.XGBoostError as exc:
            raise ArtifactError(f"cannot load XGBoost model {artifact.model_path}: {exc}") from exc
        expected = len(artifact.metadata.features)
        if expected and booster.num_features() != expected:
            raise ArtifactError(
                f"{artifact.model_path} takes {booster.num_features()} features but its "
                f"metadata lists {expected}"
            )
        return booster


def make_agent(model_dir: Path) -> DetectionAgent:
    """The registry's entry point."""
    return DetectionAgent(model_dir)
