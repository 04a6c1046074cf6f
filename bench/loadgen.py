"""Open-loop load generator: Score calls at a fixed arrival rate, in a process of its own.

Latency is measured from each call's *intended* send time, so a stalled server (or a stalled
generator) cannot hide its queueing: coordinated omission is not possible. Each step counts
its degraded decisions (bench.capacity says what passes) and, given the services' pids, their
CPU per Score over exactly that step.

    python -m bench.loadgen --target 127.0.0.1:50051 --rates 50,100 --duration 5 --out r.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import grpc

from aegis.v1 import common_pb2, router_pb2, router_pb2_grpc
from aegis_domain.convert import enum_name
from aegis_runtime.tls import TlsSettings, server_name_option
from bench.capacity import missing
from bench.cpu import CpuMeter
from bench.hops import hops, summarise_hops
from bench.population import Population, read_templates
from bench.stats import summarise


async def run_rate(
    stub: router_pb2_grpc.RouterServiceStub,
    population: Population,
    rate: float,
    duration_s: float,
    timeout_s: float,
    cpu: CpuMeter,
) -> dict[str, Any]:
    """Send rate x duration calls on schedule; wait for every reply; summarise."""
    total = max(1, int(rate * duration_s))
    latencies: list[float] = []
    agent_latencies: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    finished_at: list[float] = []
    # Per agent, how many decisions went without its signal (timeout, error, no model...).
    degraded: Counter[str] = Counter()
    # Decisions made without context or without some agent's signal; those with a TIMEOUT.
    degraded_decisions = 0
    timeout_decisions = 0
    # Per hop (each agent, context, audit): how many Scores shared its batch call.
    batch_sizes: dict[str, list[float]] = defaultdict(list)
    context_latencies: list[float] = []
    audit_latencies: list[float] = []
    score_hops: list[dict[str, float]] = []

    async def call(intended: float, event: common_pb2.LoginEvent) -> None:
        nonlocal degraded_decisions, timeout_decisions
        try:
            reply = await stub.Score(router_pb2.ScoreRequest(event=event), timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            errors[exc.code().name] += 1
            return
        done = time.perf_counter()
        finished_at.append(done)
        latencies.append((done - intended) * 1000)
        score_hops.append(hops(latencies[-1], reply))
        actions[enum_name(common_pb2.Action, reply.decision.action)] += 1
        timing = reply.timing
        context_latencies.append(timing.context_ms)
        audit_latencies.append(timing.audit_ms)
        if timing.context_batch_size:
            batch_sizes["context"].append(timing.context_batch_size)
        batch_sizes["audit"].append(timing.audit_batch_size)
        for signal in reply.decision.signals:
            if signal.status == common_pb2.SIGNAL_STATUS_OK:
                agent_latencies[signal.agent].append(signal.latency_ms)
                batch_sizes[signal.agent].append(signal.batch_size)
        gaps = missing(reply.decision, timing)
        degraded.update(gaps)
        degraded_decisions += bool(gaps)
        timeout_decisions += any(gap.endswith(":TIMEOUT") for gap in gaps)

    tasks = []
    cpu.start()
    start = time.perf_counter()
    for i in range(total):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(call(intended, population.next_login())))
    await asyncio.gather(*tasks)
    elapsed = (max(finished_at) if finished_at else time.perf_counter()) - start
    decided = len(latencies)
    return {
        "rate": rate,
        "sent": total,
        "ok": decided,
        "errors": dict(errors),
        "error_share": round(sum(errors.values()) / total, 4),
        "degraded_decisions": degraded_decisions,
        "degraded_share": round(degraded_decisions / decided, 5) if decided else 0.0,
        "without_context": degraded["context:UNAVAILABLE"],
        "timeout_share": round(timeout_decisions / decided, 5) if decided else 0.0,
        "cpu_ms_per_score": cpu.per_unit_ms(decided),
        "throughput_per_s": round(len(latencies) / elapsed, 1) if elapsed > 0 else None,
        "latency_ms": summarise(latencies),
        "agent_latency_ms": {name: summarise(v) for name, v in sorted(agent_latencies.items())},
        "context_latency_ms": summarise(context_latencies),
        # Until the audit acknowledged the record: the durable commit as the router sees it.
        "audit_commit_latency_ms": summarise(audit_latencies),
        # Where each Score's time went (bench.hops).
        "hops_ms": summarise_hops(score_hops),
        "batch_size": {
            name: {"mean": round(sum(v) / len(v), 2), **summarise(v)}
            for name, v in sorted(batch_sizes.items())
        },
        "actions": dict(actions),
        "degraded": dict(degraded),
    }


def _channel(target: str) -> grpc.aio.Channel:
    """Plaintext, or mutual TLS as the client when AEGIS_TLS_* is set."""
    tls = TlsSettings().identity("client")
    if tls is None:
        return grpc.aio.insecure_channel(target)
    return grpc.aio.secure_channel(
        target, tls.channel_credentials(), options=[server_name_option("router")]
    )


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    population = (
        Population(read_templates(args.templates), args.seed) if args.templates
        else Population.short_history(args.users, args.seed)
    )
    cpu = CpuMeter(args.cpu_pids)
    results = []
    async with _channel(args.target) as channel:
        stub = router_pb2_grpc.RouterServiceStub(channel)
        await asyncio.wait_for(channel.channel_ready(), 10)
        for rate in args.rates:
            result = await run_rate(stub, population, rate, args.duration, args.timeout, cpu)
            results.append(result)
            # Saturated, not merely short of the capacity bounds (bench.capacity): a p99 blip
            # on a shared machine must not end the ladder below what the system serves.
            saturated = result["error_share"] > args.max_error_share or (
                (result["latency_ms"]["p99"] or 0) > args.max_p99_ms
            )
            if saturated and args.stop_when_saturated and rate >= args.measure_through:
                break
    return results


def named_pids(text: str) -> dict[str, int]:
    """"router=123,audit=456" -> {"router": 123, "audit": 456}."""
    pairs = (part.split("=", 1) for part in text.split(",") if part)
    return {name: int(pid) for name, pid in pairs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="router host:port")
    parser.add_argument("--rates", type=lambda s: [float(r) for r in s.split(",")],
                        default=[50.0], help="comma-separated arrival rates (calls/s)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per rate")
    parser.add_argument("--templates", type=Path,
                        help="JSONL login templates of known users (bench.history); without "
                        "it, --users short-history users")
    parser.add_argument("--users", type=int, default=2000, help="distinct users")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1.0, help="per-call deadline (s)")
    parser.add_argument("--stop-when-saturated", action="store_true",
                        help="stop raising the rate once errors or p99 exceed the limits")
    parser.add_argument("--max-error-share", type=float, default=0.01)
    parser.add_argument("--max-p99-ms", type=float, default=1000.0)
    parser.add_argument("--measure-through", type=float, default=0.0,
                        help="rates up to this one are measured whatever happens")
    parser.add_argument("--cpu-pids", type=named_pids, default={}, metavar="NAME=PID,...",
                        help="processes whose CPU per Score each step reports")
    parser.add_argument("--out", type=Path, required=True, help="JSON results")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
