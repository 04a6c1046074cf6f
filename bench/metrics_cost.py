"""Metrics on vs off, side by side: the in-process Score path (the router's, every agent's and
the audit service's code, no gRPC hops) in child processes, alternately with and without a
meter provider; CPU per Score from getrusage (every thread: the audit writer's too).

Without the hops' own cost (~0.6 ms of CPU each) a Score is cheaper here than in the mesh, so
the share measured is an upper bound of the mesh's.

    .venv/bin/python -m bench.metrics_cost [--rounds 3] [--events 1500]
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
from pathlib import Path
from typing import Any

VARIANTS = ("off", "on")
# Scores before the measured ones: model loading and first-call costs are not the metrics'.
WARM_UP = 200


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _child(variant: str, state: Path, events: int) -> float:
    """CPU microseconds per Score over `events` Scores after the warm-up."""
    from aegis_runtime.metrics import configure_metrics
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


def measure(state: Path, rounds: int, events: int) -> dict[str, Any]:
    """Each round runs both variants, in alternating order; medians over the rounds."""
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for round_ in range(rounds):
        for variant in VARIANTS if round_ % 2 == 0 else reversed(VARIANTS):
            folder = state / f"{variant}-{round_}"
            shutil.rmtree(folder, ignore_errors=True)
            out = subprocess.run(
                [sys.executable, "-m", "bench.metrics_cost", "--child", variant,
                 "--events", str(events), "--state-dir", str(folder)],
                check=True, capture_output=True, text=True,
            ).stdout
            samples[variant].append(json.loads(out)["cpu_us_per_score"])
    off, on = (statistics.median(samples[v]) for v in VARIANTS)
    return {
        "events": events, "rounds": rounds,
        "cpu_us_per_score": {v: [round(s, 1) for s in samples[v]] for v in VARIANTS},
        "median_off_us": round(off, 1), "median_on_us": round(on, 1),
        "added_share": round((on - off) / off, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        cpu = asyncio.run(_child(args.child, args.state_dir, args.events))
        print(json.dumps({"cpu_us_per_score": cpu}))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        state = args.state_dir or Path(scratch)
        print(json.dumps(measure(state, args.rounds, args.events), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
