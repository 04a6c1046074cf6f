"""The audit service alone under a Score's two calls: its CPU per Score and its latencies,
without the router and agents that share the machine's cores in a full mesh.

    python -m bench.audit_load --population FOLDER [--tree ../before --tree .] [--rounds 2]
        [--rates 20,100,300] [--duration 10]

Per round, each tree in turn (so that a busy machine disturbs each alike) starts its audit
service (embedded, on a fresh copy of FOLDER/audit-data, the cluster's audit port) and sends
open-loop load: per login of the population, GetContextBatch and then RecordBatch of a decision
naming the served context (one item each, as the router sends an unloaded Score). Per tree,
round and rate: the audit process's CPU ms per Score (/proc), each call's latency at the
client (from its intended send time) and as served (the service's histograms: GetContext's
work, the group commit, the mean fsync), and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aegis.v1 import audit_pb2, audit_pb2_grpc, common_pb2
from aegis_domain.digest import event_digest
from aegis_mesh.cluster import AUDIT_PORT, ENVIRONMENT, HOST, METRICS_PORT_SHIFT, port_offset
from bench.cpu import CpuMeter
from bench.population import Population, read_templates
from bench.served import scrape, server_views
from bench.stats import summarise


def record_request(event: common_pb2.LoginEvent, context_ref: str) -> audit_pb2.RecordRequest:
    """A decision on `event` as the router records it, naming the context it was served."""
    request = audit_pb2.RecordRequest(context_ref=context_ref)
    decision = request.record.decision
    decision.decision_id = uuid.uuid4().hex
    decision.event_id = event.event_id
    decision.action = common_pb2.ACTION_ALLOW
    decision.risk = decision.confidence = 0.5
    decision.policy_version = "bench"
    request.record.event.CopyFrom(event)
    request.record.environment = ENVIRONMENT
    return request


async def score(stub: audit_pb2_grpc.AuditServiceStub, event: common_pb2.LoginEvent,
                intended: float, out: dict[str, list[float]]) -> None:
    """One Score's two audit calls; latencies in ms from the intended send time."""
    query = audit_pb2.GetContextRequest(
        user_id=event.user_id, device_id=event.device_id, ip=event.ip, asn=event.asn,
        as_of=event.timestamp, event_id=event.event_id, event_digest=event_digest(event),
    )
    try:
        (served,) = (await stub.GetContextBatch(
            audit_pb2.GetContextBatchRequest(items=[query]), timeout=5)).items
        got = time.perf_counter()
        out["context"].append((got - intended) * 1000)
        (recorded,) = (await stub.RecordBatch(audit_pb2.RecordBatchRequest(
            items=[record_request(event, served.context_ref)]), timeout=5)).results
        out["record"].append((time.perf_counter() - got) * 1000)
        if served.HasField("error") or recorded.HasField("error"):
            out["errors"].append(1)
    except grpc.aio.AioRpcError:
        out["errors"].append(1)


async def run_rate(stub: audit_pb2_grpc.AuditServiceStub, population: Population,
                   rate: float, duration: float, pid: int, metrics: str) -> dict[str, Any]:
    out: dict[str, list[float]] = {"context": [], "record": [], "errors": []}
    total = max(1, int(rate * duration))
    before = scrape(metrics)
    cpu = CpuMeter({"audit": pid})
    cpu.start()
    start = time.perf_counter()
    calls = []
    for n in range(total):
        intended = start + n / rate
        await asyncio.sleep(max(0.0, intended - time.perf_counter()))
        calls.append(asyncio.create_task(score(stub, population.next_login(), intended, out)))
    await asyncio.gather(*calls)
    used = cpu.per_unit_ms(total)
    views = server_views({"audit": before}, {"audit": scrape(metrics)})["audit"]
    return {
        "rate": rate, "scores": total, "errors": len(out["errors"]),
        "audit_cpu_ms_per_score": used["audit"],
        "context_ms": summarise(out["context"]), "record_ms": summarise(out["record"]),
        "served_ms": {row: views[row] for row in ("context work", "group commit", "fsync mean",
                                                   "gc pause")},
    }


@contextlib.contextmanager
def audit_service(tree: Path, state: Path, population: Path) -> Iterator[tuple[int, str, str]]:
    """`tree`'s audit service on a fresh copy of the population's audit data: its pid, its
    address and its metrics URL while inside."""
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(population / "audit-data", state / "audit-data")
    port = AUDIT_PORT + port_offset()
    env = {**os.environ, "PYTHONPATH": str(tree), "AEGIS_AUDIT_HOST": HOST,
           "AEGIS_AUDIT_PORT": str(port), "AEGIS_AUDIT_ENVIRONMENT": ENVIRONMENT,
           "AEGIS_AUDIT_METRICS_PORT": str(port + METRICS_PORT_SHIFT),
           "AEGIS_AUDIT_BACKEND": "embedded",
           "AEGIS_AUDIT_DATA_DIR": str((state / "audit-data").resolve())}
    with (state / "audit.log").open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "audit_service"], cwd=tree, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process.pid, f"{HOST}:{port}", f"http://{HOST}:{port + METRICS_PORT_SHIFT}/metrics"
    finally:
        process.terminate()
        process.wait(timeout=60)


async def serving(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(600):
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the audit service at {address} did not start")


async def measure_tree(tree: Path, state: Path, population: Path, rates: list[float],
                       duration: float, seed: int) -> list[dict[str, Any]]:
    logins = Population(read_templates(population / "templates.jsonl"), seed)
    with audit_service(tree, state, population) as (pid, address, metrics):
        await serving(address)
        async with grpc.aio.insecure_channel(address) as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            return [await run_rate(stub, logins, rate, duration, pid, metrics)
                    for rate in rates]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=Path, required=True,
                        help="python -m bench.history FOLDER made it")
    parser.add_argument("--tree", type=Path, action="append",
                        help="a checkout whose audit service runs (repeat; default: this one)")
    parser.add_argument("--rounds", type=int, default=1, help="services per tree, alternating")
    parser.add_argument("--rates", default="20,100,300", help="Score/s")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    parser.add_argument("--state-dir", type=Path, default=Path(".aegis/audit-load"))
    args = parser.parse_args(argv)
    trees = [tree.resolve() for tree in args.tree or [Path.cwd()]]
    rates = [float(rate) for rate in args.rates.split(",")]
    results: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        for number, tree in enumerate(trees):
            steps = asyncio.run(measure_tree(
                tree, (args.state_dir / f"tree{number}").resolve(), args.population.resolve(),
                rates, args.duration, seed=round_,
            ))
            results.append({"tree": str(tree), "round": round_, "steps": steps})
            for step in steps:
                served = step["served_ms"]
                print(f"{tree.name:<14} round {round_} {step['rate']:>5g}/s  audit CPU "
                      f"{step['audit_cpu_ms_per_score']:.3f} ms/Score  context p50/p99 "
                      f"{step['context_ms']['p50']}/{step['context_ms']['p99']}  record "
                      f"{step['record_ms']['p50']}/{step['record_ms']['p99']}  served: context "
                      f"{served['context work']['p50']}/{served['context work']['p99']}, commit "
                      f"{served['group commit']['p50']}/{served['group commit']['p99']}, fsync "
                      f"mean {served['fsync mean']}  errors {step['errors']}", flush=True)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    (args.state_dir / "audit_load.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
