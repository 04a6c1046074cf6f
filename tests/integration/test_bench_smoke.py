"""A few-second smoke of the benchmark harness: it runs end to end and reports every target.
The figures themselves belong to `make bench`, never to a test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def test_bench_harness_runs_and_reports_every_target(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--state-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    targets = {t["target"]: t for t in summary["targets"]}
    assert len(targets) == 6
    assert all("value" in t and "met" in t for t in targets.values())
    audit = next(t for name, t in targets.items() if "durable records" in name)
    assert audit["value"] > 0
    assert set(summary["rss_mib"]["full"]) == {
        "audit", "router", "detection", "behavior", "network", "geo"
    }
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["full"]["unloaded"]["ok"] == results["full"]["unloaded"]["sent"]
    assert results["floor"]["unloaded"]["ok"] > 0
    assert results["in_process"]["latency_ms"]["n"] > 0
