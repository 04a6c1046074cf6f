"""An agent's metrics: model latency per batch (a histogram) and per login (total model time
over logins), batch sizes, its model version as the label of an info metric, and the drift
of its inputs and output (PSI)."""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from aegis_runtime.metrics import SECONDS, CounterCells, counter_cells, gauge, histogram
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
        # Mean batch size: the rate of logins over that of batches; mean model time per login:
        # the rate of model time over that of logins.
        self._key = agent.name
        self._batches: CounterCells[str] = counter_cells(
            "aegis.agent.batches", "{batch}", "Batches assessed.", {agent.name: self._attrs})
        self._logins: CounterCells[str] = counter_cells(
            "aegis.agent.logins", "{login}", "Logins assessed.", {agent.name: self._attrs})
        self._model_time: CounterCells[str] = counter_cells(
            "aegis.agent.model_time", SECONDS, "Model time of every batch, summed.",
            {agent.name: self._attrs})
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
        self._batches.cells[self._key] += 1
        self._logins.cells[self._key] += size
        self._model_time.cells[self._key] += elapsed_s

    def _info(self, options: CallbackOptions) -> Iterable[Observation]:
        version = self._agent.describe().model_version or "none"
        return [Observation(1, {**self._attrs, "model_version": version})]

    def _drift(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, {**self._attrs, "quantity": quantity})
                for quantity, value in self._agent.drift().items()]
