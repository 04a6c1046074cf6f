"""The local cluster as real processes: make cluster-up, replay the RBA rows, verify, down."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aegis_mesh.cluster import AGENT_HOSTS_ENV
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration
AEGIS = str(REPO_ROOT / ".venv" / "bin" / "aegis")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=180,
    )


def aegis(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AEGIS, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180
    )


def test_cluster_scores_rba_rows_and_the_log_verifies(
    rba_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every agent in one agent host (the default is a process each, which the other cluster
    # tests run): the CLI's agent and replay commands must find the agents at their host too.
    monkeypatch.setenv(AGENT_HOSTS_ENV, "all")
    state = f"STATE={tmp_path / 'state'}"
    up = make("cluster-up", state)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        status = make("cluster-status", state)
        assert status.returncode == 0, status.stdout + status.stderr
        # audit, the agent host (every agent in one process), router
        assert status.stdout.count("SERVING") == 3

        out = tmp_path / "decisions.jsonl"
        replay = aegis(
            "replay", str(rba_dir / "rba-head19.csv"), "--json", "--out", str(out),
            "--no-progress",
        )
        assert replay.returncode == 0, replay.stderr
        summary = json.loads(replay.stdout)
        assert summary["rows"] == 19
        assert summary["decisions"] == 19
        assert summary["failed"] == 0
        # Degraded decisions are counted beside the failed ones (how many depends on the
        # machine's load, so only their presence is checked here).
        assert all(type(summary[k]) is int for k in ("without_context", "required_agent_missing"))
        assert sum(summary["actions"].values()) == 19
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == 19
        decision_ids = {r["decision_id"] for r in rows}
        assert len(decision_ids) == 19

        verify = aegis("audit", "verify", "--json")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        report = json.loads(verify.stdout)
        assert report["ok"] is True
        assert report["records_checked"] == 19

        # The commands that reach agents directly find them at the shifted ports too.
        described = aegis("agent", "geo", "--describe", "--json")
        assert described.returncode == 0, described.stderr
        assert json.loads(described.stdout)["state"] == "READY"
        replayed = aegis("audit", "replay", rows[0]["decision_id"], "--json")
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert json.loads(replayed.stdout)["identical"] is True

        # The damaged spreadsheet copy is refused whole, each row named by its line.
        damaged = aegis(
            "replay", str(rba_dir / "rba-head2000-spreadsheet-damaged.csv"), "--no-progress",
            "--max-problems", "0",
        )
        assert damaged.returncode == 2
        assert "line 2:" in damaged.stderr and "line 2001:" in damaged.stderr
    finally:
        down = make("cluster-down", state)
        assert down.returncode == 0, down.stdout + down.stderr
    after = make("cluster-status", state)
    assert after.returncode != 0
    assert "SERVING" not in after.stdout
