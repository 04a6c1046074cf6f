"""An agent's metrics: model latency per batch and per login, batch sizes, and its model
version as the label of an info metric."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from aegis_runtime.metrics import ITEMS, SECONDS, meter


class AgentInstruments:
    """Recorded once per assessed batch (AssessBatch or Assess, which is a batch of one)."""

    def __init__(self, agent: str, model_version: Callable[[], str]) -> None:
        m = meter()
        self._attrs = {"agent": agent}
        self._agent = agent
        self._model_version = model_version
        self._batch_duration = m.create_histogram(
            "aegis.agent.batch.duration", unit=SECONDS,
            description="Model time of one batch of logins (conversion included).",
        )
        self._login_duration = m.create_histogram(
            "aegis.agent.login.duration", unit=SECONDS,
            description="Model time per login: a batch's time over its size.",
        )
        self._batch_size = m.create_histogram(
            "aegis.agent.batch.size", unit=ITEMS, description="Logins per assessed batch."
        )
        m.create_observable_gauge(
            "aegis.agent.model.info", callbacks=[self._info], unit="1",
            description="1, labelled with the agent's loaded model version (none: no model).",
        )

    def assessed(self, size: int, elapsed_s: float) -> None:
        self._batch_duration.record(elapsed_s, self._attrs)
        self._batch_size.record(size, self._attrs)
        if size:
            self._login_duration.record(elapsed_s / size, self._attrs)

    def _info(self, options: CallbackOptions) -> Iterable[Observation]:
        version = self._model_version() or "none"
        return [Observation(1, {"agent": self._agent, "model_version": version})]
