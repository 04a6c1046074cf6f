"""The in-process path (no gRPC) and the component benchmarks: audit commits, GNN batches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aegis.v1 import agent_pb2, audit_pb2, common_pb2
from aegis_domain.convert import context_to_proto, event_from_proto
from aegis_domain.registry import AgentEntry, default_registry
from aegis_domain.types import LoginContext
from aegis_lab.contexts import offline_contexts
from aegis_lab.world import WorldConfig, generate
from agent_services.base import build_agent
from agent_services.host import AgentServicer
from agent_services.network.agent import NetworkAgent
from audit_service.embedded.store import EmbeddedAuditStore
from audit_service.servicer import AuditServicer
from audit_service.settings import AuditSettings
from bench.capacity import missing
from bench.population import Population
from bench.stats import summarise
from router_service.builder import build_scorer
from router_service.context_view import ServedContexts, served_contexts
from router_service.deadline import Deadline
from router_service.policy import load_policy
from router_service.settings import RouterSettings

MODEL_DIR = Path(".aegis/models")
class _NoContext:
    """The servicers use their gRPC context only to abort on errors, which a benchmark never
    sees, and to read the caller's deadline: there is none."""

    def time_remaining(self) -> None:
        return None


_NO_CONTEXT: Any = _NoContext()


class DirectAgent:
    """Stands where the router's AgentService stub stands, calling the servicer directly."""

    def __init__(self, servicer: AgentServicer) -> None:
        self.servicer = servicer

    async def AssessBatch(
        self, request: bytes, timeout: float, metadata: Sequence[tuple[str, str]],
    ) -> agent_pb2.AssessBatchResponse:
        return await self.servicer.AssessBatch(
            agent_pb2.AssessBatchRequest.FromString(request), _NO_CONTEXT
        )


class DirectAudit:
    """Stands where the router's AuditService stub stands, calling the servicer directly."""

    def __init__(self, servicer: AuditServicer) -> None:
        self.servicer = servicer

    async def GetContextBatch(
        self, request: audit_pb2.GetContextBatchRequest, timeout: float,
        metadata: Sequence[tuple[str, str]],
    ) -> ServedContexts:
        reply = await self.servicer.GetContextBatch(request, _NO_CONTEXT)
        # As the router reads an answer off the wire.
        return served_contexts(reply.SerializeToString())

    async def RecordBatch(
        self, request: bytes, timeout: float, metadata: Sequence[tuple[str, str]],
    ) -> audit_pb2.RecordBatchResponse:
        return await self.servicer.RecordBatch(
            audit_pb2.RecordBatchRequest.FromString(request), _NO_CONTEXT
        )


def _agent(entry: AgentEntry) -> AgentServicer:
    agent = build_agent(entry, MODEL_DIR / entry.name)
    agent.load()
    return AgentServicer(agent)


async def measure(
    state: Path, events: int, on_score: Callable[[int], None] = lambda index: None
) -> dict[str, Any]:
    """The same validation, agents, combination, policy and durable audit as the mesh, with
    every hop a Python call: what the mesh would cost without its network hops. `on_score`
    is told the index of each Score before it starts (bench.metrics_cost marks its warm-up)."""
    store = EmbeddedAuditStore(AuditSettings(data_dir=state, writer_id="bench-inprocess"))
    await store.start()
    settings = RouterSettings()
    registry = default_registry()
    agents = {e.name: DirectAgent(_agent(e)) for e in registry.agents}
    # No learned combiner: the bench measures the path, pooling as an untrained mesh does.
    scorer = build_scorer(
        settings, registry, load_policy(settings.policy_path), DirectAudit(AuditServicer(store)),
        agents,
    )
    population = Population.short_history(2000, seed=2)
    latencies = []
    degraded = 0
    try:
        for index in range(events):
            on_score(index)
            started = time.perf_counter()
            scored = await scorer.score(
                population.next_login(), Deadline.after(1.0), scorer.live_window()
            )
            latencies.append((time.perf_counter() - started) * 1000)
            degraded += bool(missing(scored.decision, scored.timing))
    finally:
        await store.close()
    return {"latency_ms": summarise(latencies),
            "throughput_per_s": round(len(latencies) / (sum(latencies) / 1000), 1),
            "degraded_share": round(degraded / events, 5)}


async def audit_commit_rate(state: Path, records: int) -> dict[str, Any]:
    """Durable records per second with many concurrent writers (group commit)."""
    store = EmbeddedAuditStore(AuditSettings(data_dir=state, writer_id="bench-commit"))
    await store.start()
    population = Population.short_history(2000, seed=3)
    batch = []
    for i in range(records):
        event = population.next_login()
        batch.append(common_pb2.DecisionRecord(
            decision=common_pb2.Decision(
                decision_id=f"{population.run_id}-{i}", event_id=event.event_id,
                action=common_pb2.ACTION_ALLOW, risk=0.01, confidence=0.9,
                policy_version="bench",
            ),
            event=event,
            context=context_to_proto(LoginContext()),
            environment="local",
        ))
    commits_before = store.commit_count
    started = time.perf_counter()
    try:
        await asyncio.gather(*(store.record(r) for r in batch))
        elapsed = time.perf_counter() - started
        commits = store.commit_count - commits_before
    finally:
        await store.close()
    return {"records": records, "records_per_s": round(records / elapsed, 1),
            "fsync_batches": commits}


def network_batch_latency(model_dir: Path, rounds: int, events: int) -> dict[str, Any]:
    """p50/p99 of the network agent's assess_batch over batches of 32 real GetContext answers
    (a generated world replayed through the audit service's own context rules); None when the
    agent has no model."""
    entry = default_registry().get("network")
    agent = build_agent(entry, model_dir / entry.name)
    agent.load()
    if not agent.describe().ready or not isinstance(agent, NetworkAgent):
        return {"p99": None, "detail": "network agent has no model (make train)"}
    world = generate(WorldConfig(users=max(10, events // 20), events=events, seed=11))
    requests = list(offline_contexts(
        (event_from_proto(login.event) for login in world), AuditSettings().context_bounds()
    ))[-32 * 50:]
    batches = [requests[i: i + 32] for i in range(0, len(requests), 32)]
    for batch in batches[:5]:
        agent.assess_batch(batch)  # warm-up: first calls allocate
    timings = []
    for n in range(rounds):
        started = time.perf_counter()
        agent.assess_batch(batches[n % len(batches)])
        timings.append((time.perf_counter() - started) * 1000)
    return summarise(timings)
