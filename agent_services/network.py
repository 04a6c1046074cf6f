"""Network agent: a GraphSAGE GNN over the user-device-IP-ASN neighbourhood of a login."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agent_services.artifacts import Artifact, ArtifactError, import_for_artifact
from agent_services.trained import TrainedModelAgent

MODEL_FILE = "model.pt"


class NetworkAgent(TrainedModelAgent):
    """Reads `model_dir/model.pt` (a torch state_dict) and `model_dir/metadata.json`."""

    name = "network"
    model_file = MODEL_FILE
    summary = "GraphSAGE over the login's user, device, IP and ASN neighbourhood."

    def read_model(self, artifact: Artifact) -> object:
        torch = import_for_artifact("torch", "network", artifact.model_path)
        try:
            # weights_only: a model file must never be able to run code when it is read.
            state = torch.load(artifact.model_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch.load raises pickle, zip and runtime errors alike
            raise ArtifactError(f"cannot load torch model {artifact.model_path}: {exc}") from exc
        if not isinstance(state, Mapping) or not all(
            isinstance(value, torch.Tensor) for value in state.values()
        ):
            raise ArtifactError(
                f"{artifact.model_path} is not a state_dict (a mapping of names to tensors)"
            )
        return state


def make_agent(model_dir: Path) -> NetworkAgent:
    """The registry's entry point."""
    return NetworkAgent(model_dir)
