"""The embedded audit store's Record path in process: what a Score costs it, and its commit's
phases.

    python -m bench.record_path --population FOLDER [--tree ../before --tree .] [--rounds 2]
        [--rates 20,100] [--duration 8]

Per round, each tree in turn (a child process with that tree first on its path, so a busy
machine disturbs each alike) opens an EmbeddedAuditStore on a fresh copy of FOLDER/audit-data
and runs a Score's audit work open loop at each rate: get_context, the served bytes
(ContextEncoder), then record naming them (a decision with four agents' signals). Per tree,
round and rate: the process's CPU ms per Score (every thread), Record's p50 / p99 ms (submit
to acknowledgement), commits per Score, and per phase of a commit (the chain's append with its
fsync, signing the checkpoint, the context cache's update, the index write, and the whole
commit up to the acknowledgement) its p50 and mean wall ms and mean CPU ms, timed by wrapping
the methods that do them. No gRPC: bench.audit_load measures the service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.in_tree import add_tree_options, each_tree, in_child

PHASES = {
    "append+fsync": ("audit_service.log.writer", "ChainWriter", "append"),
    "sign": ("audit_service.embedded.store", "EmbeddedAuditStore", "_sign"),
    "cache": ("audit_service.embedded.context_cache", "ContextCache", "add"),
    "index": ("audit_service.embedded.index", "SqliteIndex", "insert"),
    "to ack": ("audit_service.embedded.store", "EmbeddedAuditStore", "_commit"),
}


def time_phases() -> dict[str, list[tuple[float, float]]]:
    """Wraps each phase's method: (wall ms, thread CPU ms) of every call, by phase."""
    import importlib

    times: dict[str, list[tuple[float, float]]] = defaultdict(list)

    def timed(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                times[name].append(((time.perf_counter() - wall) * 1000,
                                    (time.thread_time() - cpu) * 1000))
        return call

    for name, (module, cls, method) in PHASES.items():
        owner = getattr(importlib.import_module(module), cls)
        setattr(owner, method, timed(name, getattr(owner, method)))
    return times


def decision_record(event: Any) -> Any:
    """A decision on `event` as the router records it: four agents' signals, a reason each."""
    from aegis.v1 import common_pb2

    record = common_pb2.DecisionRecord(environment="local")
    decision = record.decision
    decision.decision_id = uuid.uuid4().hex
    decision.event_id = event.event_id
    decision.action = common_pb2.ACTION_ALLOW
    decision.risk = decision.confidence = 0.5
    decision.policy_version = "bench"
    decision.decided_at.GetCurrentTime()
    for agent in ("detection", "behavior", "network", "geo"):
        signal = decision.signals.add(agent=agent, status=common_pb2.SIGNAL_STATUS_OK, risk=0.3,
                                      confidence=0.8, model_version=f"{agent}-1",
                                      latency_ms=2.5, batch_size=1)
        signal.reasons.add(code="BENCH", message="a reason of an agent's usual length, with "
                           "a number or two: 0.42 of 17", weight=0.1)
    record.event.CopyFrom(event)
    return record


async def child_run(population: Path, state: Path, rates: list[float],
                    duration: float) -> list[dict[str, Any]]:
    from aegis_domain.convert import timestamp_to_seconds
    from audit_service.context_bytes import ContextEncoder
    from audit_service.embedded.store import EmbeddedAuditStore
    from audit_service.settings import AuditSettings
    from bench.population import Population, read_templates

    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(population / "audit-data", state)
    phases = time_phases()
    store = EmbeddedAuditStore(AuditSettings(data_dir=state, environment="local"))
    await store.start()
    encoder = ContextEncoder()
    logins = Population(read_templates(population / "templates.jsonl"), 7)
    rows = []
    try:
        for rate in rates:
            latencies: list[float] = []

            async def score(event: Any, latencies: list[float]) -> None:
                context = await store.get_context(
                    event.user_id, event.device_id, event.ip, event.asn,
                    timestamp_to_seconds(event.timestamp))
                served = encoder.encode(context)
                started = time.perf_counter()
                await store.record(decision_record(event), None, served)
                latencies.append((time.perf_counter() - started) * 1000)

            total = max(1, int(rate * duration))
            for calls in phases.values():
                calls.clear()
            commits, cpu, start = store.commit_count, time.process_time(), time.perf_counter()
            tasks = []
            for n in range(total):
                await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(score(logins.next_login(), latencies)))
            await asyncio.gather(*tasks)
            rows.append({
                "rate": rate,
                "cpu_ms_per_score": round((time.process_time() - cpu) * 1000 / total, 3),
                "record_ms": _quantiles(latencies),
                "commits_per_score": round((store.commit_count - commits) / total, 3),
                "phases": {name: _phase(calls) for name, calls in phases.items()},
            })
    finally:
        await store.close()
    return rows


def _quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values) or [0.0]
    return {"p50": round(ordered[len(ordered) // 2], 3),
            "p99": round(ordered[int(len(ordered) * 0.99)], 3)}


def _phase(calls: list[tuple[float, float]]) -> dict[str, float]:
    walls = sorted(wall for wall, _ in calls) or [0.0]
    count = max(1, len(calls))
    return {"wall_p50": round(walls[len(walls) // 2], 3),
            "wall_mean": round(sum(walls) / count, 3),
            "cpu_mean": round(sum(cpu for _, cpu in calls) / count, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=Path, required=True,
                        help="a realistic population (python -m bench.history FOLDER)")
    parser.add_argument("--rates", default="20,100", help="Score/s")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per rate")
    parser.add_argument("--state-dir", type=Path, default=Path(".aegis/record-path"))
    add_tree_options(parser, rounds=1)
    args = parser.parse_args(argv)
    if in_child(args):
        rates = [float(rate) for rate in args.rates.split(",")]
        rows = asyncio.run(child_run(args.population, args.state_dir / args.child.name, rates,
                                     args.duration))
        print(json.dumps(rows))
        return 0
    child_args = ["--population", str(args.population.resolve()), "--rates", args.rates,
                  "--duration", str(args.duration), "--state-dir", str(args.state_dir.resolve())]
    for round_number, tree, rows in each_tree("bench.record_path", args, child_args):
        for row in rows:
            phases = "  ".join(f"{name} {p['wall_p50']}/{p['wall_mean']}/{p['cpu_mean']}"
                               for name, p in row["phases"].items())
            print(f"{tree.name:<14} round {round_number} {row['rate']:>5g}/s  CPU "
                  f"{row['cpu_ms_per_score']} ms/Score  record p50/p99 "
                  f"{row['record_ms']['p50']}/{row['record_ms']['p99']}  commits/Score "
                  f"{row['commits_per_score']}  phases wall p50/mean, CPU mean: {phases}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
