"""A short smoke of the benchmark harness: every phase runs end to end at tiny sizes and every
target is reported. The figures themselves belong to `make bench`, never to a test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

MESHES = ("full", "full_short_history", "floor", "ceiling")
SERVICES = {"audit", "router", "detection", "behavior", "network", "geo"}


# Six clusters one after another: past the suite's 120 s per test on a busy machine, and the
# subprocess's own 300 s bound is the one that should end it (its clusters are stopped then).
@pytest.mark.timeout(330)
def test_bench_harness_runs_every_phase_and_reports_every_target(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--state-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    targets = summary["targets"]
    assert len(targets) == 9
    # A value may be None where its ceiling read 0 on a loaded machine: figures are the bench's.
    assert all(set(t) == {"target", "value", "met"} and isinstance(t["met"], bool) for t in targets)
    assert set(summary["capacity_per_s"]) == set(MESHES)
    if summary["capacity_per_s"]["ceiling"]:
        assert summary["ratios_to_ceiling"]["capacity"]["ceiling"] == 1.0
    # CPU per Score is charged to every service of the mesh, and totalled.
    assert set(summary["at_reference_rate"]["cpu_ms_per_score"]) == SERVICES | {"total", "loadgen"}
    assert summary["at_reference_rate"]["cpu_ms_per_score"]["total"] > 0
    assert set(summary["idle_cpu_cores"]) == set(MESHES)
    # The unloaded floor is four of the ceiling's hops: the full mesh cannot go below it.
    assert summary["unloaded_p50_transport_floor_ms"] == pytest.approx(
        4 * summary["unloaded_p50_ms"]["ceiling"], abs=0.002)
    # The streaming phase: every login put was decided and published (its lag is the bench's).
    [ingest] = summary["ingest"].values()
    assert ingest["published"] == ingest["sent"] > 0 and ingest["lag_p50_ms"] is not None
    assert ingest["consumer_cpu_ms_per_event"] > 0

    results = json.loads((tmp_path / "results.json").read_text())
    population = results["population"]
    assert population["load_users"] > 0
    assert population["history_per_load_user"]["min"] >= 25
    for mesh in (*MESHES, "five_agents"):
        unloaded = results[mesh]["unloaded"]
        assert unloaded["ok"] == unloaded["sent"], (mesh, unloaded["errors"])
    # The seeded store serves the load's users their past logins, up to the bound (read from the
    # store itself: whether a loaded machine's GetContext met its deadline is the bench's figure).
    assert population["served_context"]["history"]["p50"] >= 25
    assert results["in_process"]["latency_ms"]["n"] > 0
    assert results["metrics_cost"]["median_on_us"] > 0
