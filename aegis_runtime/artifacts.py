"""Model artifacts on disk: presence, metadata, and a clear error when one is unusable."""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

METADATA_FILE = "metadata.json"

M = TypeVar("M", bound=BaseModel)


class ArtifactError(RuntimeError):
    """An artifact is present but unusable: the agent must refuse to start, not degrade."""


class ModelMetadata(BaseModel):
    """metadata.json beside a trained model; trainers may add fields of their own."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model_version: str = Field(min_length=1, description="Recorded in every signal.")
    features: list[str] = Field(default_factory=list, description="Input features, in order.")


@dataclass(frozen=True, slots=True)
class Artifact:
    """A trained model file and its metadata."""

    model_path: Path
    metadata: ModelMetadata


def read_json_model(path: Path, model: type[M]) -> M:
    """Parse and validate a JSON file; ArtifactError names the file and the problem."""
    try:
        return model.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}") from exc


def find_artifact(model_dir: Path, model_file: str) -> Artifact | None:
    """The artifact in `model_dir`, or None when there is none at all.

    Half an artifact (a model without metadata or the reverse) is an error: it means a
    training run or a copy was interrupted, and serving it would hide that.
    """
    model_path = model_dir / model_file
    metadata_path = model_dir / METADATA_FILE
    if not model_path.exists() and not metadata_path.exists():
        return None
    for present, absent in ((model_path, metadata_path), (metadata_path, model_path)):
        if present.exists() and not absent.exists():
            raise ArtifactError(f"incomplete model artifact: {present} exists but {absent} not")
    return Artifact(model_path, read_json_model(metadata_path, ModelMetadata))


def import_for_artifact(module: str, extra: str, path: Path) -> ModuleType:
    """Import a heavy dependency only when an artifact needs it (the router image lacks it)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ArtifactError(f"{path} needs the {module} package: pip install '.[{extra}]'") from exc


def fingerprint(*parts: str | bytes) -> str:
    """A short stable digest of what determines an agent's output (settings, tables)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        # Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:12]
