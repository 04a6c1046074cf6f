"""Where an unloaded Score's time goes: p50/p99 of every hop at a low rate (20 Score/s).

    python -m bench.latency_breakdown --population FOLDER [--rate 20] [--duration 30]
    python -m bench.latency_breakdown --population FOLDER --tree ../before --tree . --rounds 3

Each tree gets a cluster of its own code (bench.compare.tree_cluster; trees alternate, round
after round, so that a busy machine disturbs each alike) and the same open-loop load
(bench.loadgen). Two views of every hop: per Score, exact, the router's from the replies
(bench.hops), and per batch each service's own from its histograms over the step
(bench.served). `make bench` records both for its unloaded steps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc

from aegis.v1 import router_pb2_grpc
from aegis_mesh.cluster import ClusterPaths, cluster_stages, metrics_url, router_address
from bench.compare import tree_cluster
from bench.cpu import CpuMeter
from bench.loadgen import named_pids, run_rate
from bench.population import Population, read_templates
from bench.served import scrape_all, server_views


async def measure(
    urls: Mapping[str, str], pids: str, templates: Path | None, rate: float, duration: float,
    warmup: float,
) -> dict[str, Any]:
    """The load at `rate` for `duration` s against the running cluster (after `warmup` s of
    the same load, not counted): the hops per Score and the services' histograms."""
    population = (Population(read_templates(templates), seed=1) if templates
                  else Population.short_history(2000, seed=1))
    async with grpc.aio.insecure_channel(router_address()) as channel:
        stub = router_pb2_grpc.RouterServiceStub(channel)
        await asyncio.wait_for(channel.channel_ready(), 10)
        if warmup > 0:
            await run_rate(stub, population, rate, warmup, 1.0, CpuMeter({}))
        before = scrape_all(urls)
        step = await run_rate(stub, population, rate, duration, 1.0,
                              CpuMeter(named_pids(pids)))
        after = scrape_all(urls)
    return {
        "hops_ms": step["hops_ms"],
        "served_ms": server_views(before, after),
        "degraded_decisions": step["degraded_decisions"],
        "errors": step["errors"],
        "cpu_ms_per_score": step["cpu_ms_per_score"],
    }


def _metrics_urls(state: Path) -> dict[str, str]:
    specs = (spec for stage in cluster_stages(ClusterPaths(state)) for spec in stage)
    return {spec.name: url for spec in specs if (url := metrics_url(spec)) is not None}


def render(tree: str, result: Mapping[str, Any]) -> str:
    lines = [f"== {tree}: hops per Score (ms, p50 / p99), degraded "
             f"{result['degraded_decisions']}, errors {result['errors']}, CPU ms/Score "
             f"{result['cpu_ms_per_score'].get('total')}"]
    lines += [f"  {hop:<22} {v['p50']:>8} {v['p99']:>8}" for hop, v in result["hops_ms"].items()]
    lines.append("  per batch, from the services' histograms (ms: p50 / p99 / mean, n)")
    for service, rows in result["served_ms"].items():
        for row, v in rows.items():
            if isinstance(v, dict):
                lines.append(f"  {service:<10} {row:<19} {v['p50']!s:>8} {v['p99']!s:>8} "
                             f"{v['mean']!s:>8} {v['n']:>6g}")
            else:
                lines.append(f"  {service:<10} {row:<19} {'':>8} {'':>8} {v!s:>8}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, action="append",
                        help="a checkout whose cluster is measured (repeat to compare; "
                        "default: this one)")
    parser.add_argument("--population", type=Path,
                        help="a realistic population (python -m bench.history FOLDER); "
                        "default: short-history logins on an empty audit store")
    parser.add_argument("--rate", type=float, default=20.0, help="Score/s")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="seconds of the same load first, not measured (default none: a "
                        "fresh cluster's first Scores count, as in make bench)")
    parser.add_argument("--rounds", type=int, default=1, help="clusters per tree, alternating")
    parser.add_argument("--model-dir", type=Path, default=Path(".aegis/models"))
    parser.add_argument("--state-dir", type=Path, default=Path(".aegis/latency"))
    parser.add_argument("--out", type=Path, help="JSON results (default: STATE_DIR/latency.json)")
    args = parser.parse_args(argv)
    trees = [t.resolve() for t in (args.tree or [Path.cwd()])]
    population = args.population.resolve() if args.population else None
    templates = population / "templates.jsonl" if population else None
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for round_ in range(args.rounds):
        for index, tree in enumerate(trees):
            name = f"{index}:{tree}"
            state = (args.state_dir / f"tree{index}").resolve()
            with tree_cluster(tree, state, args.model_dir.resolve(), population) as (pids, _):
                result = asyncio.run(measure(_metrics_urls(state), pids, templates, args.rate,
                                             args.duration, args.warmup))
            results[name].append(result)
            print(render(f"{name} round {round_ + 1}", result), flush=True)
    out = args.out or args.state_dir / "latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
