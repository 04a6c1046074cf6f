"""Before/after: the same load against a cluster of another checkout and of this one, in turn.

    git worktree add ../before <commit>
    python -m bench.compare --before ../before --rates 20,100,200,300 [--population FOLDER]

Both clusters serve the same models (--model-dir) on the same ports, one after the other; the
load generator and its population are this checkout's. For a change of models rather than of
code, give the before cluster its own (--before-model-dir; --before may then be this checkout).
Reports, per tree and rate, achieved throughput, latency, errors, degraded decisions, and each
service's CPU per Score (from /proc), which the noise of a shared machine disturbs less than
latency does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aegis_mesh.cluster import ClusterPaths, router_address


def aegis(tree: Path, *args: str, env: dict[str, str]) -> None:
    # The tree's own code: run from it, with it first on the path.
    subprocess.run([sys.executable, "-m", "aegis_cli", *args], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def tree_cluster(
    tree: Path, state: Path, models: Path, population: Path | None,
) -> Iterator[tuple[str, list[str]]]:
    """A cluster of `tree`'s code on `state` (on a fresh copy of `population`'s seeded
    audit data, if given), up while inside: its service pids as `--cpu-pids` takes them, and
    the load generator's population options."""
    env = {**os.environ, "PYTHONPATH": str(tree), "AEGIS_AGENT_MODEL_DIR": str(models),
           "AEGIS_ROUTER_COMBINER_PATH": str(models / "router" / "combiner.json")}
    load = []
    if population is not None:
        # Each tree starts from its own copy of the seeded history.
        shutil.rmtree(state, ignore_errors=True)
        shutil.copytree(population / "audit-data", ClusterPaths(state).audit_data)
        load = ["--templates", str(population / "templates.jsonl")]
    aegis(tree, "cluster", "up", "--state-dir", str(state), env=env)
    try:
        yield ",".join(f"{p.stem}={p.read_text().strip()}"
                       for p in (state / "run").glob("*.pid")), load
    finally:
        aegis(tree, "cluster", "down", "--state-dir", str(state), env=env)


def measure_tree(
    tree: Path, state: Path, models: Path, rates: list[float], duration: float,
    population: Path | None,
) -> list[dict[str, Any]]:
    out = state / "rates.json"
    with tree_cluster(tree, state, models, population) as (pids, load):
        subprocess.run([sys.executable, "-m", "bench.loadgen", "--rates",
                        ",".join(f"{rate:g}" for rate in rates), "--duration", str(duration),
                        "--out", str(out), "--target", router_address(), "--cpu-pids", pids,
                        *load],
                       check=True)
    rows: list[dict[str, Any]] = json.loads(out.read_text())
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--after", type=Path, default=Path.cwd(), help="default: this one")
    parser.add_argument("--model-dir", type=Path, default=Path(".aegis/models"))
    parser.add_argument("--before-model-dir", type=Path,
                        help="the before cluster's models (default: --model-dir)")
    parser.add_argument("--state-dir", type=Path, default=Path(".aegis/bench-compare"))
    parser.add_argument("--rates", default="20,100,200,300")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--population", type=Path,
                        help="a realistic population (python -m bench.history FOLDER): its seeded "
                        "audit data and its logins; default: short-history logins, empty audit")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    trees = (("before", args.before, args.before_model_dir or args.model_dir),
             ("after", args.after, args.model_dir))
    results = {
        name: measure_tree(tree.resolve(), (args.state_dir / name).resolve(), models.resolve(),
                           rates, args.duration,
                           args.population.resolve() if args.population else None)
        for name, tree, models in trees
    }
    (args.state_dir / "compare.json").write_text(json.dumps(results, indent=2))
    print(f"{'tree':<7} {'rate':>6} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'degraded':>9} {'CPU ms/Score':>13}")
    for name, rows in results.items():
        for r in rows:
            degraded = r["degraded_decisions"]
            print(f"{name:<7} {r['rate']:>6g} {r['throughput_per_s']:>9} "
                  f"{r['latency_ms']['p50']:>8} {r['latency_ms']['p99']:>8} "
                  f"{r['error_share']:>7} {degraded:>9} {r['cpu_ms_per_score']['total']:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
