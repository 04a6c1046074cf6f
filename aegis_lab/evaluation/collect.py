"""Replays labelled logins (a held-out world, or a file with its truth) through the running
router and keeps every decision beside the truth: the raw material of the evaluation report."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from aegis.v1 import common_pb2 as pb
from aegis.v1 import router_pb2_grpc
from aegis_domain.context_rules import ContextBounds
from aegis_domain.convert import event_from_proto, timestamp_to_seconds
from aegis_lab.contexts import OfflineContexts
from aegis_lab.evaluation.novelty import NoveltyBaseline
from aegis_lab.training.dataset import ATTACKS, CASES
from aegis_lab.world import WorldConfig, generate
from aegis_lab.world.rows import labels
from aegis_runtime.channels import service_channel
from router_service.client.rows import ParsedRow
from router_service.client.stream import Outcome, replay
from router_service.client.summary import ReplaySummary


@dataclass(frozen=True, slots=True)
class Labelled:
    """One login to replay and what it really was ("" for legitimate / no hard case)."""

    row: ParsedRow
    attack: str
    hard_case: str


def world_logins(config: WorldConfig) -> Iterator[Labelled]:
    """A generated world's logins, numbered from 1, with their truth."""
    for number, login in enumerate(generate(config), 1):
        row = ParsedRow(number, number, login.event, labels(login))
        yield Labelled(row, login.truth.attack, login.truth.hard_case)


# Rows per ScoreStream: minutes at most, well within the servers' connection age.
CHUNK_ROWS = 5_000


@dataclass(slots=True)
class Collected:
    """One row per login of the world, in time order; NaN risk where no decision came."""

    agents: tuple[str, ...]
    risk: NDArray[np.float64]
    confidence: NDArray[np.float64]
    action: NDArray[np.int8]
    agent_status: NDArray[np.int8]  # (logins, agents), pb.SignalStatus values
    agent_risk: NDArray[np.float64]
    agent_confidence: NDArray[np.float64]
    latency_ms: NDArray[np.float64]
    attack: NDArray[np.int8]
    hard_case: NDArray[np.int8]
    timestamps: NDArray[np.float64]
    novelty: NDArray[np.float64]  # the naive per-user novelty baseline's score
    # Names of the attack and hard-case codes (0: none); a file's truth may add its own.
    attack_names: list[str] = field(default_factory=lambda: list(ATTACKS))
    case_names: list[str] = field(default_factory=lambda: list(CASES))
    errors: Counter[str] = field(default_factory=Counter)
    model_versions: dict[str, Counter[str]] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @classmethod
    def empty(cls, n: int, agents: Sequence[str]) -> Collected:
        shape = (n, len(agents))
        return cls(
            agents=tuple(agents),
            risk=np.full(n, np.nan), confidence=np.full(n, np.nan),
            action=np.zeros(n, dtype=np.int8),
            agent_status=np.zeros(shape, dtype=np.int8),
            agent_risk=np.full(shape, np.nan), agent_confidence=np.full(shape, np.nan),
            latency_ms=np.full(n, np.nan),
            attack=np.zeros(n, dtype=np.int8), hard_case=np.zeros(n, dtype=np.int8),
            timestamps=np.zeros(n), novelty=np.zeros(n),
        )

    def label(self, index: int, attack: str, hard_case: str) -> None:
        """Record one login's truth, naming new attack types and hard cases as they come."""
        for names, name, codes in ((self.attack_names, attack, self.attack),
                                   (self.case_names, hard_case, self.hard_case)):
            if name not in names:
                names.append(name)
            codes[index] = names.index(name)

    @property
    def decided(self) -> NDArray[np.bool_]:
        return ~np.isnan(self.risk)

    def take(self, index: int, decision: pb.Decision) -> None:
        self.risk[index] = decision.risk
        self.confidence[index] = decision.confidence
        self.action[index] = decision.action
        self.latency_ms[index] = decision.latency_ms
        for signal in decision.signals:
            if signal.agent in self.agents:
                k = self.agents.index(signal.agent)
                self.agent_status[index, k] = signal.status
                self.agent_risk[index, k] = signal.risk
                self.agent_confidence[index, k] = signal.confidence
        for name, version in decision.model_versions.items():
            self.model_versions.setdefault(name, Counter())[version] += 1


def collect(
    logins: Iterable[Labelled],
    count: int,
    router: str,
    agents: Sequence[str],
    *,
    max_in_flight: int,
    bounds: ContextBounds,
    on_outcome: Callable[[], object] = lambda: None,
) -> Collected:
    """Score each of the `count` logins through the router's ScoreStream, and each with the
    novelty baseline.

    The baseline's contexts come from the offline builder over the same logins in the same
    order, under the audit's `bounds`: the history GetContext gives the mesh (the baseline reads
    only past events, never decisions), whatever replies are still in flight when it runs.
    """
    collected = Collected.empty(count, agents)
    contexts = OfflineContexts(bounds)
    baseline = NoveltyBaseline()

    def rows() -> Iterator[ParsedRow]:
        for index, login in enumerate(itertools.islice(logins, count)):
            collected.label(index, login.attack, login.hard_case)
            collected.timestamps[index] = timestamp_to_seconds(login.row.event.timestamp)
            event = event_from_proto(login.row.event)
            collected.novelty[index] = baseline.observe(event, contexts.context(event))
            contexts.record(event)
            yield ParsedRow(index + 1, index + 1, login.row.event, login.row.labels)
    def take(outcome: Outcome) -> None:
        if outcome.decision is not None:
            collected.take(outcome.row - 1, outcome.decision)
        else:
            collected.errors[outcome.error_code] += 1
        on_outcome()

    summary = ReplaySummary()
    source = rows()

    async def stream() -> None:
        while True:
            chunk = list(itertools.islice(source, CHUNK_ROWS))
            if not chunk:
                return
            # A fresh connection per chunk: servers close connections after a maximum age
            # (so that clients rebalance), which would cut one long stream.
            channel = service_channel(router)
            try:
                await replay(router_pb2_grpc.RouterServiceStub(channel), chunk, summary, take,
                             max_in_flight=max_in_flight)
            finally:
                await channel.close()
            collected.elapsed_s += summary.elapsed_s

    asyncio.run(stream())
    return collected
