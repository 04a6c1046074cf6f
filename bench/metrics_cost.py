"""Metrics on vs off, side by side: the in-process Score path (the router's, every agent's and
the audit service's code, no gRPC hops) in child processes, alternately with and without a
meter provider; CPU per Score from getrusage (every thread: the audit writer's too).

Without the hops' own cost (~0.6 ms of CPU each) a Score is cheaper here than in the mesh, so
the share measured is an upper bound of the mesh's. `--instruments` measures only what every
service records for one Score, the gRPC metrics of its calls included (the in-process path has
no hops, so makes none): batches of one, the most measurements a Score can cost, which a busy
machine's noise disturbs far less than a whole Score.

    .venv/bin/python -m bench.metrics_cost [--rounds 3] [--events 1500] [--instruments]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aegis_runtime.metrics import configure_metrics

VARIANTS = ("off", "on")
# Scores before the measured ones: model loading and first-call costs are not the metrics'.
WARM_UP = 200


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _CallContext:
    """A served call's context as the gRPC metrics read it: no status set."""

    def code(self) -> None:
        return None


async def _answer(request: object, context: object) -> None:
    return None


async def _instruments_child(events: int) -> float:
    """CPU microseconds of one Score's recording in every service, batches of one: with
    metrics on, every served call goes through the gRPC metrics' interceptor, as it does in
    a service that exports metrics."""
    import grpc

    from aegis.v1 import common_pb2
    from aegis_domain.registry import default_registry
    from aegis_runtime import grpc_metrics
    from aegis_runtime.settings import ServiceSettings
    from agent_services.geo import make_agent
    from agent_services.instruments import AgentInstruments
    from audit_service import instruments as audit
    from router_service.instruments import BatchInstruments, RouterInstruments

    names = default_registry().names
    router = RouterInstruments(names)
    batchers = [BatchInstruments(name) for name in [*names, "context", "record"]]
    agents = [AgentInstruments(make_agent(Path("no-models"))) for _ in names]
    decision = common_pb2.Decision(action=common_pb2.ACTION_ALLOW, signals=[
        common_pb2.AgentSignal(agent=name, status=common_pb2.SIGNAL_STATUS_OK, latency_ms=3.0)
        for name in names])
    # The calls of one Score: the router serves it and makes one batch call to each agent,
    # GetContext and Record, which their services serve.
    made = [*(["/aegis.v1.AgentService/AssessBatch"] * len(names)),
            "/aegis.v1.AuditService/GetContextBatch", "/aegis.v1.AuditService/RecordBatch"]
    served = []
    for path in ["/aegis.v1.RouterService/Score", *made]:
        handler = grpc.unary_unary_rpc_method_handler(_answer)
        for interceptor in grpc_metrics.server_interceptors(ServiceSettings().slow_call_ms / 1000):
            handler = interceptor.wrap(path, handler)
        served.append(handler.unary_unary)
    context = _CallContext()
    started_cpu = _cpu_s()
    for _ in range(events):
        started = time.perf_counter()
        router.in_flight += 1
        for serve in served:
            await serve(None, context)
        for path in made:
            with grpc_metrics.client_call(path):
                pass
        for batcher in batchers:
            batcher.sent(1, [0.0001])
        for agent in agents:
            agent.assessed(1, 0.001)
        audit.contexts_served(1, 20, 0.001)
        audit.committed(1, 0.002)
        with audit.storage_write("fsync"):
            pass
        router.in_flight -= 1
        router.scored(decision, False, started)
    return (_cpu_s() - started_cpu) / events * 1e6


async def _child(variant: str, state: Path, events: int) -> float:
    """CPU microseconds per Score over `events` Scores after the warm-up."""
    from bench import inprocess

    if variant == "on":
        # As a service runs it: the Prometheus reader (on a free port), nothing scraping.
        configure_metrics("bench", "127.0.0.1", 0)
    marks: dict[str, float] = {}

    def mark(index: int) -> None:
        if index == WARM_UP:
            marks["start"] = _cpu_s()

    await inprocess.measure(state, WARM_UP + events, on_score=mark)
    return (_cpu_s() - marks["start"]) / events * 1e6


def measure(
    state: Path, rounds: int, events: int, instruments: bool = False
) -> dict[str, Any]:
    """Each round runs both variants, in alternating order; medians over the rounds."""
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for round_ in range(rounds):
        for variant in VARIANTS if round_ % 2 == 0 else reversed(VARIANTS):
            folder = state / f"{variant}-{round_}"
            shutil.rmtree(folder, ignore_errors=True)
            out = subprocess.run(
                [sys.executable, "-m", "bench.metrics_cost", "--child", variant,
                 "--events", str(events), "--state-dir", str(folder),
                 *(["--instruments"] if instruments else [])],
                check=True, capture_output=True, text=True,
            ).stdout
            samples[variant].append(json.loads(out)["cpu_us_per_score"])
    off, on = (statistics.median(samples[v]) for v in VARIANTS)
    return {
        "events": events, "rounds": rounds,
        "cpu_us_per_score": {v: [round(s, 1) for s in samples[v]] for v in VARIANTS},
        "median_off_us": round(off, 1), "median_on_us": round(on, 1),
        "added_us": round(on - off, 1),
        # Of a Score's CPU (not meaningful with --instruments, whose "off" is an empty loop).
        "added_share": round((on - off) / off, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--instruments", action="store_true",
                        help="only the recording of one Score in every service")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.instruments:
            if args.child == "on":
                configure_metrics("bench", "127.0.0.1", 0)
            cpu = asyncio.run(_instruments_child(args.events))
        else:
            cpu = asyncio.run(_child(args.child, args.state_dir, args.events))
        print(json.dumps({"cpu_us_per_score": cpu}))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        state = args.state_dir or Path(scratch)
        print(json.dumps(measure(state, args.rounds, args.events, args.instruments), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
