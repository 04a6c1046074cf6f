"""`python -m ecs.sizing RESULTS`: ECS tasks per service for 1,000 and 10,000 logins/s, as a
markdown table, from a `make bench` result and the task sizes ecs/ deploys.

CPU per Score per service is the bench's (each process's CPU time ÷ Scores; in an agent host,
each agent's thread and an even share of the rest) for the full mesh
on the realistic population, at its highest rate step that no failure, degradation or slow
p99 disqualified (its capacity; `--rate` picks another step). A task's CPU is its Fargate size
from the registry or deploy.yaml; tasks are planned at the autoscaling CPU target
(deploy.yaml's `scaling.cpu_target_percent`), so that the rate is carried at the utilisation
autoscaling holds, and never fewer than the service's `min_tasks`.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aegis_domain.registry import default_registry
from aegis_mesh.cluster import ALL_AGENTS
from ecs.config import load_deploy_config
from ecs.services import DeployedService, deployed_services

RATES = (1_000, 10_000)
COLUMNS = (
    "service", "CPU ms per Score", "task vCPU (used)",
    *(f"tasks at {rate:,}/s" for rate in RATES),
)
# Each task runs one Python server process: its event loop and the service's own work hold
# the GIL, so a task uses about one vCPU however large it is (numpy's BLAS is pinned to one
# thread in the network agent). Planning on more would under-provision a larger task.
USABLE_VCPU_PER_TASK = 1.0


class SizingError(ValueError):
    """The bench result cannot size the services (no step passed, no such rate)."""


@dataclass(frozen=True, slots=True)
class Measured:
    """CPU per Score of each service at one rate step of one mesh of a bench result."""

    mesh: str
    rate: float
    throughput_per_s: float
    cpu_ms_per_score: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Sized:
    """One service's row: its CPU per Score and the tasks each rate needs."""

    name: str
    cpu_ms_per_score: float
    task_vcpu: float
    used_vcpu: float
    tasks: tuple[int, ...]
    max_tasks: int


def measured(results: Mapping[str, Any], mesh: str = "full",
             rate: float | None = None) -> Measured:
    """The step of `mesh` at `rate`, or at the mesh's capacity (the highest passing step)."""
    try:
        phase = results[mesh]
    except KeyError:
        raise SizingError(f"the bench result has no {mesh!r} mesh") from None
    steps = phase["rates"]
    if rate is None:
        capacity = phase["capacity_per_s"]
        if not capacity:
            raise SizingError(f"no rate step of the {mesh} mesh passed: no capacity to size on")
        chosen = [s for s in steps if s["throughput_per_s"] == capacity]
    else:
        chosen = [s for s in steps if s["rate"] == rate]
    if not chosen:
        offered = ", ".join(f"{s['rate']:g}" for s in steps)
        raise SizingError(f"the {mesh} mesh has no rate step {rate:g} (it has {offered})")
    step = chosen[0]
    cpu = {name: ms for name, ms in step["cpu_ms_per_score"].items()
           if name not in ("total", "loadgen")}
    # A local cluster's agent host: each agent was charged its own thread, the host the
    # event loop and gRPC threads they shared. On ECS each agent is a service of its own that
    # pays that transport itself: an even share of it is added to each.
    shared = cpu.pop(ALL_AGENTS, None)
    if shared is not None:
        hosted = [name for name in cpu if name in default_registry().names]
        for name in hosted:
            cpu[name] = round(cpu[name] + shared / len(hosted), 3)
    return Measured(mesh, step["rate"], step["throughput_per_s"], cpu)


def tasks_for(rate: float, cpu_ms_per_score: float, used_vcpu: float,
              target_utilisation: float) -> int:
    """Tasks that carry `rate` Scores/s at `target_utilisation` of the vCPU each uses."""
    cores = rate * cpu_ms_per_score / 1000
    # A hair below an integer is that integer: 0.6 * 5 / 0.6 must not become 6 tasks.
    return math.ceil(round(cores / (used_vcpu * target_utilisation), 9))


def size(measured: Measured, services: Iterable[DeployedService],
         target_utilisation: float) -> list[Sized]:
    """A row per deployed service the bench measured (the stream consumer is not in it)."""
    rows = []
    for service in services:
        if service.name not in measured.cpu_ms_per_score:
            continue
        cpu_ms = measured.cpu_ms_per_score[service.name]
        task_vcpu = service.size.cpu / 1024
        used = min(task_vcpu, USABLE_VCPU_PER_TASK)
        tasks = tuple(
            max(service.size.min_tasks, tasks_for(rate, cpu_ms, used, target_utilisation))
            for rate in RATES
        )
        rows.append(Sized(service.name, cpu_ms, task_vcpu, used, tasks, service.size.max_tasks))
    return rows


def markdown(rows: Sequence[Sized]) -> str:
    """The table; a count above the service's max_tasks says so (autoscaling stops there)."""

    def count(tasks: int, row: Sized) -> str:
        return f"{tasks} (max_tasks {row.max_tasks})" if tasks > row.max_tasks else str(tasks)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [f"`{row.name}`", f"{row.cpu_ms_per_score:.2f}",
                 f"{row.task_vcpu:g} ({row.used_vcpu:g})", *(count(t, row) for t in row.tasks)]
        lines.append("| " + " | ".join(cells) + " |")
    total_ms = sum(row.cpu_ms_per_score for row in rows)
    totals = [sum(row.tasks[i] for row in rows) for i in range(len(RATES))]
    lines.append(f"| all | {total_ms:.2f} | | " + " | ".join(map(str, totals)) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecs.sizing", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("results", type=Path, metavar="RESULTS",
                        help="a `make bench` results.json (STATE/bench/results.json)")
    parser.add_argument("--mesh", default="full",
                        help="which mesh of the result (default %(default)s: realistic "
                        "population, four real agents)")
    parser.add_argument("--rate", type=float,
                        help="size on this rate step (default: the mesh's capacity)")
    args = parser.parse_args(argv)
    target = load_deploy_config().scaling.cpu_target_percent / 100
    try:
        step = measured(json.loads(args.results.read_text()), args.mesh, args.rate)
    except SizingError as exc:
        parser.error(str(exc))
    print(f"From {args.results}: the {step.mesh} mesh at {step.rate:g} Score/s offered "
          f"({step.throughput_per_s:g} achieved), tasks planned at {target:.0%} CPU.\n")
    print(markdown(size(step, deployed_services(), target)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
