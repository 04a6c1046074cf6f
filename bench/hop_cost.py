"""The cost of one gRPC message and of a wake-up, on asyncio's event loop and on uvloop's (the
services' loop: aegis_runtime.server.service_loop), side by side.

A client process calls a bare grpc.aio health server in another process, one call at a time:
back-to-back (both processes stay awake), then with a gap before each call (each call wakes
both from idle, as at a few Scores a second). Per call: the CPU of each side, every thread
(/proc/PID/task/*/schedstat, nanoseconds), and the client's latency. Variants alternate, so a
busy machine disturbs each alike; the medians over rounds are printed.

    .venv/bin/python -m bench.hop_cost [--rounds 5] [--calls 2000] [--gap-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

Result = TypeVar("Result")
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop] | None] = {
    "asyncio": None, "uvloop": uvloop.new_event_loop,
}


def cpu_seconds(pid: int) -> float:
    """CPU every thread of `pid` has run so far, at nanosecond resolution (the ticks of
    /proc/PID/stat are 10 ms: coarser than a few hundred calls)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except OSError:  # a thread that ended meanwhile
            continue
    return total / 1e9


async def _serve() -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


async def _calls(port: int, server_pid: int, calls: int, gap_s: float) -> list[float]:
    """client ms/call, server ms/call, p50 ms, p99 ms."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        request = health_pb2.HealthCheckRequest()
        for _ in range(100):  # connected and warm
            await check(request)
        own = cpu_seconds(os.getpid())
        served = cpu_seconds(server_pid)
        latencies = []
        for _ in range(calls):
            if gap_s:
                await asyncio.sleep(gap_s)
            started = time.perf_counter()
            await check(request)
            latencies.append(time.perf_counter() - started)
        own = cpu_seconds(os.getpid()) - own
        served = cpu_seconds(server_pid) - served
    latencies.sort()
    return [own / calls * 1000, served / calls * 1000,
            latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000]


def _run(loop: str, coroutine: Coroutine[Any, Any, Result]) -> Result:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(coroutine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000, help="back-to-back calls a round")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="idle time before each "
                        "call of the wake-up step (which makes calls/8 calls)")
    parser.add_argument("--serve", choices=LOOPS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _run(args.serve, _serve())
        return 0
    steps = [(0.0, args.calls), (args.gap_ms / 1000, max(args.calls // 8, 1))]
    results: dict[tuple[str, float], list[list[float]]] = {}
    for _ in range(args.rounds):
        for loop in LOOPS:
            server = subprocess.Popen(
                [sys.executable, "-m", "bench.hop_cost", "--serve", loop],
                stdout=subprocess.PIPE, text=True,
            )
            try:
                port = int(server.stdout.readline())  # type: ignore[union-attr]
                for gap_s, calls in steps:
                    row = _run(loop, _calls(port, server.pid, calls, gap_s))
                    results.setdefault((loop, gap_s), []).append(row)
            finally:
                server.kill()
                server.wait()
    print(f"{'loop':<8} {'gap ms':>6} {'client ms':>10} {'server ms':>10} {'p50 ms':>7} "
          f"{'p99 ms':>7}   (CPU per call, medians of {args.rounds} rounds)")
    for (loop, gap_s), rows in results.items():
        client, served, p50, p99 = (statistics.median(column) for column in zip(*rows, strict=True))
        print(f"{loop:<8} {gap_s * 1000:>6g} {client:>10.3f} {served:>10.3f} {p50:>7.3f} "
              f"{p99:>7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
