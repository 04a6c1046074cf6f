"""Agents backed by a trained model artifact: loading, the no-model path, description."""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from aegis_domain.types import AgentSignal, LoginContext, LoginEvent
from aegis_runtime.artifacts import Artifact, find_artifact
from agent_services.base import Agent, AgentDescription

log = logging.getLogger(__name__)


class TrainedModelAgent(Agent):
    """An agent whose model is trained offline and read from `model_dir` at start.

    No artifact: the agent still serves and answers NO_MODEL (missing, not failed), so a
    fresh clone runs before `make train`. An unreadable artifact: `load` raises, and the
    service refuses to start rather than silently serving without its model.
    """

    model_file: ClassVar[str]
    summary: ClassVar[str]

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.artifact: Artifact | None = None
        self.model: object | None = None

    @property
    def model_path(self) -> Path:
        return self.model_dir / self.model_file

    def load(self) -> None:
        artifact = find_artifact(self.model_dir, self.model_file)
        if artifact is None:
            log.warning(
                "no trained model", extra={"agent": self.name, "path": str(self.model_path)}
            )
            return
        self.model = self.read_model(artifact)
        self.artifact = artifact
        log.info(
            "model loaded",
            extra={"agent": self.name, "model_version": artifact.metadata.model_version},
        )

    @abc.abstractmethod
    def read_model(self, artifact: Artifact) -> object:
        """Read the model file; raise ArtifactError naming the file when it is unusable."""

    @abc.abstractmethod
    def score_batch(
        self, requests: Sequence[tuple[LoginEvent, LoginContext]]
    ) -> list[AgentSignal]:
        """One signal per login, with the loaded model (called only once one is loaded)."""

    def assess(self, event: LoginEvent, context: LoginContext) -> AgentSignal:
        return self.assess_batch([(event, context)])[0]

    def assess_batch(
        self, requests: Sequence[tuple[LoginEvent, LoginContext]]
    ) -> list[AgentSignal]:
        if self.artifact is None:
            missing = self.no_model(f"no trained model at {self.model_path}; run make train")
            return [replace(missing) for _ in requests]
        return self.score_batch(requests)

    def describe(self) -> AgentDescription:
        metadata = self.artifact.metadata if self.artifact else None
        return AgentDescription(
            name=self.name,
            model_version=metadata.model_version if metadata else "",
            features=list(metadata.features) if metadata else [],
            ready=metadata is not None,
            description=self.summary
            if metadata
            else f"{self.summary} Not ready: no trained model at {self.model_path}.",
        )
