"""The local cluster over mutual TLS: `make cluster-up TLS=1` makes the CA and certificates,
a login is scored, the audit log verifies and a review is recorded under the reviewer's
certificate with them; without them the router refuses."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from aegis_domain.registry import default_registry
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration
AEGIS = str(REPO_ROOT / ".venv" / "bin" / "aegis")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
        env=os.environ | env,
    )


def test_a_tls_cluster_scores_and_verifies_only_with_certificates(tmp_path: Path) -> None:
    state = tmp_path / "state"
    tls = state / "tls"
    up = run("make", "--no-print-directory", "cluster-up", f"STATE={state}", "TLS=1")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        names = ["router", "audit", *default_registry().names, "client", "reviewer", "operator"]
        assert (tls / "ca.pem").is_file()
        for name in names:
            assert (tls / f"{name}.pem").is_file(), name
            assert stat.S_IMODE((tls / f"{name}.key").stat().st_mode) == 0o600, name

        status = run("make", "--no-print-directory", "cluster-status", f"STATE={state}", "TLS=1")
        assert status.stdout.count("SERVING") == 6, status.stdout + status.stderr
        plain = run("make", "--no-print-directory", "cluster-status", f"STATE={state}")
        assert plain.returncode != 0 and "started with --tls?" in plain.stderr, plain.stderr

        login = ("score", "--user", "42", "--ip", "81.166.1.2", "--country", "NO", "--json")
        refused = run(AEGIS, *login)
        assert refused.returncode != 0

        scored = run(AEGIS, *login, AEGIS_TLS_DIR=str(tls))
        assert scored.returncode == 0, scored.stderr
        decision = json.loads(scored.stdout)
        assert decision["decision_id"]

        verify = run(AEGIS, "audit", "verify", "--json", AEGIS_TLS_DIR=str(tls))
        assert verify.returncode == 0, verify.stdout + verify.stderr
        report = json.loads(verify.stdout)
        assert report["ok"] is True and report["records_checked"] == 1

        # The reviewer recorded is the certificate's, and none need be named.
        reviewed = run(
            AEGIS, "review", "decide", decision["decision_id"], "--outcome", "approve",
            "--reason", "called the customer: it was her new phone", "--json",
            AEGIS_TLS_DIR=str(tls),
        )
        assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr
        assert json.loads(reviewed.stdout)["review"]["reviewer"] == "spiffe://aegis/reviewer/local"
    finally:
        down = run("make", "--no-print-directory", "cluster-down", f"STATE={state}")
        assert down.returncode == 0, down.stdout + down.stderr
