"""An agent's metrics: model latency per batch and per login (histograms), logins assessed
(mean batch size: over the batches, the per-batch histogram's count), its model version as
the label of an info metric, and the drift of its inputs and output (PSI)."""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from aegis_runtime.metrics import (
    SECONDS,
    CounterCells,
    counter_cells,
    gauge,
    histogram,
    histogram_cells,
)
from agent_services.base import Agent


class AgentInstruments:
    """Recorded once per assessed batch (AssessBatch or Assess, which is a batch of one)."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent
        self._attrs = {"agent": agent.name}
        self._batch_duration = histogram(
            "aegis.agent.batch.duration",
            "Model time of one batch of logins (conversion included).",
        )
        self._login_duration = histogram_cells(
            "aegis.agent.login.duration", SECONDS,
            "Model time per login: each batch's time over its logins, one measurement a batch.",
        )
        self._key = agent.name
        self._logins: CounterCells[str] = counter_cells(
            "aegis.agent.logins", "{login}", "Logins assessed.", {agent.name: self._attrs})
        gauge("aegis.agent.model.info", self._info, "1",
              "1, labelled with the agent's loaded model version (none: no model).")
        gauge(
            "aegis.agent.drift.psi", self._drift, "1",
            "Population stability index of the agent's risk and main features over "
            "its latest logins against its training window (> 0.25: a population the model "
            "was not trained on).",
        )

    def assessed(self, size: int, elapsed_s: float) -> None:
        self._batch_duration.record(elapsed_s, self._attrs)
        self._login_duration.record(self._key, elapsed_s / max(size, 1), self._attrs)
        self._logins.cells[self._key] += size

    def _info(self, options: CallbackOptions) -> Iterable[Observation]:
        version = self._agent.describe().model_version or "none"
        return [Observation(1, {**self._attrs, "model_version": version})]

    def _drift(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, {**self._attrs, "quantity": quantity})
                for quantity, value in self._agent.drift().items()]
