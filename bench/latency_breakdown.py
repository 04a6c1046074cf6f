"""Where an unloaded Score's time goes: p50/p99 of every hop at a low rate (20 Score/s).

    python -m bench.latency_breakdown --population FOLDER [--rate 20] [--duration 30]
    python -m bench.latency_breakdown --population FOLDER --tree ../before --tree . --rounds 3

Each tree gets a cluster of its own code (bench.compare.tree_cluster; trees alternate, round
after round, so that a busy machine disturbs each alike) and the same open-loop load
(bench.loadgen). Two views of every hop:

- per Score, exact, from the replies: the client's latency; the router's view of each hop
  (ScoreTiming and each agent's signal): context (validation + GetContext), the slowest
  agent, decide (fan-out set-up, combination, policy: what the router's decision latency
  leaves after those two), record (until durable) and outside (the client's latency less the
  router's: the client <-> router hop and the Score servicer);
- per batch, from each service's Prometheus histograms over the step (quantiles estimated
  within buckets, and exact means): the router's queue wait and call per downstream, each
  call as served, the work inside it (GetContext, group commit, model time) and the mean
  fsync, so that a hop splits into waiting for a call slot, transport and scheduling (call
  less served) and work; and each service's garbage-collector pauses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import grpc
from prometheus_client.parser import text_string_to_metric_families

from aegis.v1 import common_pb2, router_pb2, router_pb2_grpc
from aegis_mesh.cluster import ClusterPaths, cluster_stages, metrics_url, router_address
from bench.compare import tree_cluster
from bench.cpu import CpuMeter
from bench.loadgen import named_pids, run_rate
from bench.population import Population, read_templates
from bench.stats import percentile

# Histogram series (Prometheus name, label filter) -> the row it is shown as, per service.
_ROUTER = {
    "context queue wait": ("aegis_router_batch_queue_wait_seconds", {"downstream": "context"}),
    "context call": ("rpc_client_duration_seconds", {"rpc_method": "GetContextBatch"}),
    "agent queue wait": ("aegis_router_batch_queue_wait_seconds", {"downstream": "*agent"}),
    "agent call": ("rpc_client_duration_seconds", {"rpc_method": "AssessBatch"}),
    "record queue wait": ("aegis_router_batch_queue_wait_seconds", {"downstream": "record"}),
    "record call": ("rpc_client_duration_seconds", {"rpc_method": "RecordBatch"}),
    "score served": ("rpc_server_duration_seconds", {"rpc_method": "Score"}),
}
_AUDIT = {
    "context served": ("rpc_server_duration_seconds", {"rpc_method": "GetContextBatch"}),
    "context work": ("aegis_audit_context_duration_seconds", {}),
    "record served": ("rpc_server_duration_seconds", {"rpc_method": "RecordBatch"}),
    "group commit": ("aegis_audit_commit_duration_seconds", {}),
}
_AGENT = {
    "served": ("rpc_server_duration_seconds", {"rpc_method": "AssessBatch"}),
    "model": ("aegis_agent_batch_duration_seconds", {}),
}
# Every service's: a collection stops everything its process serves.
_GC = {
    "gc pause": ("aegis_runtime_gc_pause_seconds", {}),
    "gc pause, full": ("aegis_runtime_gc_pause_seconds", {"generation": "2"}),
}
_NOT_AGENTS = {"context", "record"}


def hops(client_ms: float, reply: router_pb2.ScoreResponse) -> dict[str, float]:
    """One Score's hops in ms, as the router measured them (see the module's docstring)."""
    decision, timing = reply.decision, reply.timing
    agents = {s.agent: s.latency_ms for s in decision.signals
              if s.status == common_pb2.SIGNAL_STATUS_OK}
    slowest = max(agents.values(), default=0.0)
    router_ms = decision.latency_ms + timing.audit_ms
    return {
        "client": client_ms,
        "outside router": client_ms - router_ms,
        "context": timing.context_ms,
        "slowest agent": slowest,
        **{f"agent {name}": ms for name, ms in sorted(agents.items())},
        "decide": decision.latency_ms - timing.context_ms - slowest,
        "record": timing.audit_ms,
    }


Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Series:
    """Every sample of a Prometheus endpoint, by (sample name, labels)."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _matches(labels: frozenset[tuple[str, str]], wanted: Mapping[str, str]) -> bool:
    have = dict(labels)
    for key, value in wanted.items():
        if value == "*agent":
            if have.get(key) in _NOT_AGENTS or key not in have:
                return False
        elif have.get(key) != value:
            return False
    return True


def histogram(before: Series, after: Series, name: str,
              wanted: Mapping[str, str]) -> dict[str, float | None]:
    """What a histogram recorded between two scrapes, every matching series summed: its
    count, mean and p50/p99 in ms, the quantiles interpolated within their bucket."""
    buckets: dict[float, float] = defaultdict(float)
    count = total = 0.0
    for (sample, labels), value in after.items():
        if not sample.startswith(name) or not _matches(labels, wanted):
            continue
        grew = value - before.get((sample, labels), 0.0)
        if sample == name + "_bucket":
            buckets[float(dict(labels)["le"])] += grew
        elif sample == name + "_count":
            count += grew
        elif sample == name + "_sum":
            total += grew
    if not count:
        return {"n": 0, "mean": None, "p50": None, "p99": None}
    return {"n": count, "mean": round(total / count * 1000, 3),
            "p50": _quantile(buckets, count, 0.5), "p99": _quantile(buckets, count, 0.99)}


def _quantile(buckets: Mapping[float, float], count: float, q: float) -> float | None:
    """The q-quantile (ms) of cumulative bucket counts, linear within its bucket."""
    wanted = q * count
    lower = previous = 0.0
    for bound in sorted(buckets):
        cumulative = buckets[bound]
        if cumulative >= wanted:
            if math.isinf(bound):
                return round(lower * 1000, 3)  # past the last bound: its lower edge
            share = (wanted - previous) / (cumulative - previous) if cumulative > previous else 1
            return round((lower + (bound - lower) * share) * 1000, 3)
        lower, previous = bound, cumulative
    return None


def server_views(urls: Mapping[str, str], before: Mapping[str, Series],
                 after: Mapping[str, Series]) -> dict[str, dict[str, Any]]:
    """Each service's histograms between the scrapes, by row (router, audit, each agent)."""
    views: dict[str, dict[str, Any]] = {}
    for service in urls:
        rows = _ROUTER if service == "router" else _AUDIT if service == "audit" else _AGENT
        views[service] = {row: histogram(before[service], after[service], name, labels)
                          for row, (name, labels) in {**rows, **_GC}.items()}
    audit_before, audit_after = before.get("audit", {}), after.get("audit", {})
    if audit_after:
        writes = _grown(audit_before, audit_after, "aegis_audit_storage_writes_total")
        spent = _grown(audit_before, audit_after, "aegis_audit_storage_write_time_seconds_total")
        views["audit"]["fsync mean"] = round(spent / writes * 1000, 3) if writes else None
    return views


def _grown(before: Series, after: Series, name: str) -> float:
    """How much a counter of fsyncs grew between the scrapes."""
    return sum(value - before.get(key, 0.0) for key, value in after.items()
               if key[0] == name and ("operation", "fsync") in key[1])


def summarise_hops(samples: Iterable[Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    by_hop: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        for hop, ms in sample.items():
            by_hop[hop].append(ms)
    return {hop: {"p50": _rounded(percentile(v, 50)), "p99": _rounded(percentile(v, 99)),
                  "n": len(v)} for hop, v in by_hop.items()}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def measure(
    urls: Mapping[str, str], pids: str, templates: Path | None, rate: float, duration: float,
    warmup: float,
) -> dict[str, Any]:
    """The load at `rate` for `duration` s against the running cluster (after `warmup` s of
    the same load, not counted): the hops per Score and the services' histograms."""
    population = (Population(read_templates(templates), seed=1) if templates
                  else Population.short_history(2000, seed=1))
    samples: list[dict[str, float]] = []
    async with grpc.aio.insecure_channel(router_address()) as channel:
        stub = router_pb2_grpc.RouterServiceStub(channel)
        await asyncio.wait_for(channel.channel_ready(), 10)
        if warmup > 0:
            await run_rate(stub, population, rate, warmup, 1.0, CpuMeter({}))
        before = {name: scrape(url) for name, url in urls.items()}
        step = await run_rate(stub, population, rate, duration, 1.0,
                              CpuMeter(named_pids(pids)),
                              lambda ms, reply: samples.append(hops(ms, reply)))
        after = {name: scrape(url) for name, url in urls.items()}
    return {
        "hops_ms": summarise_hops(samples),
        "served_ms": server_views(urls, before, after),
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
