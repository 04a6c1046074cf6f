"""The network model on disk: state_dict + metadata.json, written atomically, read strictly."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, ValidationError

from aegis_runtime.artifacts import (
    METADATA_FILE,
    Artifact,
    ArtifactError,
    ModelMetadata,
    fingerprint,
)
from agent_services.network import MODEL_FILE
from agent_services.network.model import HyperParams, LoginGraphSAGE
from agent_services.network.schema import feature_names


class NetworkMetadata(ModelMetadata):
    """metadata.json of the network model."""

    hyper_params: HyperParams
    context_bounds: dict[str, float] = Field(
        description="The GetContext bounds the training neighbourhoods were built with; the "
        "audit service should serve the same ones."
    )
    training_window: dict[str, str] = Field(description="First and last login, ISO 8601 UTC.")
    data_hash: str = Field(description="sha256 of the training logins and their labels.")
    metrics: dict[str, float | None] = Field(
        default_factory=dict, description="Measured at training; null where undefined."
    )


def model_version(model: LoginGraphSAGE) -> str:
    """Names the weights: equal versions, equal outputs."""
    state = model.state_dict()
    parts: list[str | bytes] = [model.params.model_dump_json()]
    for name in sorted(state):
        parts += [name, state[name].detach().cpu().contiguous().numpy().tobytes()]
    return f"sage-{fingerprint(*parts)}"


def save_artifact(model_dir: Path, model: LoginGraphSAGE, metadata: Mapping[str, Any]) -> None:
    """Write model.pt and metadata.json so that a reader sees the old artifact, the new one or
    (for an instant) none, never half of each: both go to a fresh sibling folder that then
    takes the old one's place."""
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", dir=model_dir.parent))
    try:
        state = {name: t.detach().cpu() for name, t in model.state_dict().items()}
        torch.save(state, staging / MODEL_FILE)
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", "utf-8")
        retired = staging.with_name(staging.name + ".old")
        if model_dir.exists():
            os.replace(model_dir, retired)
        os.replace(staging, model_dir)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_model(artifact: Artifact, state: Mapping[str, torch.Tensor]) -> tuple[LoginGraphSAGE,
                                                                                  NetworkMetadata]:
    """The model an artifact describes, with its weights, ready for inference."""
    metadata_path = artifact.model_path.parent / METADATA_FILE
    try:
        metadata = NetworkMetadata.model_validate(artifact.metadata.model_dump())
    except ValidationError as exc:
        raise ArtifactError(f"cannot read {metadata_path}: {exc}") from exc
    if metadata.features != feature_names():
        raise ArtifactError(
            f"{metadata_path} lists features {metadata.features}, but this code computes "
            f"{feature_names()}: retrain the network model"
        )
    model = LoginGraphSAGE(metadata.hyper_params)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(
            f"{artifact.model_path} does not fit the architecture in {metadata_path}: {exc}"
        ) from exc
    model.eval()
    return model, metadata
