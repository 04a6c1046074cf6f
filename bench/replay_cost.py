"""A replay's CPU per row in every process, and its rate, for checkouts in turn.

    aegis generate --users 600 --events 30000 --days 30 --seed 12 --out logins.jsonl
    python -m bench.replay_cost logins.jsonl --tree ../before --tree . --rounds 2

Each round replays the file through a fresh cluster of each tree in turn (same models, same
ports, `aegis replay FILE --json --no-progress` at its default settings, the tree's own
client), so a before/after pair shares the machine's load. Per run: rows/s, degraded counts,
and CPU ms per row of each service (from /proc) and of the replay client (its rusage).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aegis_mesh.cluster import router_address
from bench.compare import tree_cluster
from bench.cpu import cpu_seconds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def replay_once(tree: Path, state: Path, models: Path, file: Path,
                limit: int | None, client_args: list[str]) -> dict[str, Any]:
    shutil.rmtree(state, ignore_errors=True)  # a fresh audit log: every row decided anew
    with tree_cluster(tree, state, models, None) as (pids_option, _):
        pids = {name: int(pid) for name, pid in
                (part.split("=") for part in pids_option.split(","))}
        env = {**os.environ, "PYTHONPATH": str(tree)}
        command = [sys.executable, "-m", "aegis_cli", "replay", str(file), "--json",
                   "--no-progress", "--router", router_address()]
        if limit:
            command += ["--limit", str(limit)]
        command += client_args
        load = os.getloadavg()[0]
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        client_before = _children_cpu()
        started = time.perf_counter()
        done = subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - started
        client = _children_cpu() - client_before
        used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    summary = json.loads(done.stdout)
    rows = max(int(summary.get("rows", summary.get("scored", 0))) or 1, 1)
    cpu = {name: round(seconds * 1000 / rows, 3) for name, seconds in sorted(used.items())}
    cpu["client"] = round(client * 1000 / rows, 3)
    cpu["total"] = round(sum(used.values(), client) * 1000 / rows, 3)
    # The client's own rate (from its first request) leaves out its start-up.
    return {"tree": str(tree), "rows": rows, "rows_per_s": summary.get("throughput_per_s"),
            "wall_s": round(wall, 1),
            "load_before": round(load, 2), "cpu_ms_per_row": cpu, "summary": summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="logins to replay (JSONL or RBA CSV)")
    parser.add_argument("--tree", type=Path, action="append", required=True,
                        help="a checkout to measure (repeat: each round runs them in turn)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=int, help="only the first N rows")
    parser.add_argument("--client-arg", action="append", default=[],
                        help="one more argument for `aegis replay` (repeat)")
    parser.add_argument("--model-dir", type=Path, default=Path(".aegis/models"))
    parser.add_argument("--state-dir", type=Path, default=Path(".aegis/bench-replay"))
    args = parser.parse_args(argv)
    runs = []
    for round_no in range(args.rounds):
        for number, tree in enumerate(args.tree):
            state = (args.state_dir / f"r{round_no}-t{number}").resolve()
            run = replay_once(tree.resolve(), state, args.model_dir.resolve(),
                              args.file.resolve(), args.limit, args.client_arg)
            runs.append(run)
            print(json.dumps({k: v for k, v in run.items() if k != "summary"}), flush=True)
    (args.state_dir / "replay_cost.json").write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
