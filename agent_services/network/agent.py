"""Network agent: a GraphSAGE GNN over the user-device-IP-ASN neighbourhood of a login."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aegis_domain.types import AgentSignal, LoginContext, LoginEvent
from aegis_runtime.artifacts import Artifact, ArtifactError, import_for_artifact
from agent_services.network import MODEL_FILE
from agent_services.trained import TrainedModelAgent

if TYPE_CHECKING:
    from agent_services.network.serving import NetworkScorer

class NetworkSettings(BaseSettings):
    """Inference of the network agent; env prefix AEGIS_NETWORK_."""

    model_config = SettingsConfigDict(env_prefix="AEGIS_NETWORK_", extra="ignore")

    torch_threads: int = Field(
        1,
        ge=1,
        description="Threads of the forward pass (torch's intra-op, numpy's BLAS). A request's "
        "graph is tiny: threads cost more in synchronisation than they save; scale with more "
        "tasks instead.",
    )


class NetworkAgent(TrainedModelAgent):
    """Reads `model_dir/model.pt` (a torch state_dict) and `model_dir/metadata.json` (its
    architecture, features and version, as aegis_lab.graph.training writes them)."""

    name = "network"
    model_file = MODEL_FILE
    summary = "GraphSAGE over the login's user, device, IP and ASN neighbourhood."

    def __init__(self, model_dir: Path, settings: NetworkSettings | None = None) -> None:
        super().__init__(model_dir)
        self.settings = settings or NetworkSettings()
        self.scorer: NetworkScorer | None = None

    def read_model(self, artifact: Artifact) -> object:
        torch = import_for_artifact("torch", "network", artifact.model_path)
        import_for_artifact("torch_geometric", "network", artifact.model_path)
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
        # Process-wide, and this process serves only this agent. BLAS too: numpy's OpenBLAS
        # would spread a batch's products over every core and spin there (measured: 20 times
        # the CPU of one thread at a batch of 32 logins on a busy two-core machine).
        torch.set_num_threads(self.settings.torch_threads)
        threadpoolctl = import_for_artifact("threadpoolctl", "network", artifact.model_path)
        threadpoolctl.threadpool_limits(self.settings.torch_threads, user_api="blas")
        # Imported here, not at the top: they need torch, which only the network image has,
        # and every service imports the registry's agent modules.
        from agent_services.network.artifact import build_model
        from agent_services.network.inference import SageInference
        from agent_services.network.serving import NetworkScorer

        model, metadata = build_model(artifact, state)
        self.scorer = NetworkScorer(SageInference(model), metadata.model_version, agent=self.name)
        return model

    def score_batch(
        self, requests: Sequence[tuple[LoginEvent, LoginContext]]
    ) -> list[AgentSignal]:
        """One forward pass over the union of the logins' neighbourhoods (the same signals as
        one `assess` each)."""
        assert self.scorer is not None  # read_model sets it with the artifact
        return self.scorer.assess_batch(requests)


def make_agent(model_dir: Path) -> NetworkAgent:
    """The registry's entry point."""
    return NetworkAgent(model_dir)
