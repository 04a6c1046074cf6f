"""The cluster's metrics agree with what was scored: a known number of logins through a real
cluster, then every service's /metrics scraped and its counts checked exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis_cli.scrape import Scrape, scrape
from aegis_domain.registry import default_registry
from tests.integration.test_cluster import aegis, make

pytestmark = pytest.mark.integration
ROWS = 19


def scrape_all(urls: list[str]) -> Scrape:
    total = Scrape()
    for url in urls:
        total = total + scrape(url)
    return total


def test_counters_and_histograms_count_each_login_once(rba_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = make("cluster-up", f"STATE={state}")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        status = aegis("cluster", "status", "--json", "--state-dir", str(state))
        assert status.returncode == 0, status.stdout + status.stderr
        urls = [s["metrics"] for s in json.loads(status.stdout) if s["metrics"]]
        assert len(urls) == 6
        before = scrape_all(urls)

        # The same rows twice: the second time every login is a repeat (its recorded decision
        # comes back), which asks no agent and records nothing.
        for _ in range(2):
            replay = aegis("replay", str(rba_dir / "rba-head19.csv"), "--json", "--no-progress")
            assert replay.returncode == 0, replay.stderr
            summary = json.loads(replay.stdout)
            assert (summary["decisions"], summary["failed"]) == (ROWS, 0)

        m = scrape_all(urls).since(before)
        scores = "aegis_router_scores_total"
        assert m.total(scores, outcome="decided") == ROWS
        assert m.total(scores, outcome="repeat") == ROWS
        assert m.total(scores) == 2 * ROWS
        assert m.total("aegis_router_score_duration_seconds_count") == 2 * ROWS
        assert m.total("aegis_router_scores_in_flight") == 0
        decided_actions = sum(
            value for labels, value in m.matching(scores, outcome="decided")
            if labels["action"] in ("ALLOW", "CHALLENGE", "BLOCK_TEMPORARY", "ESCALATE"))
        assert decided_actions == ROWS
        # Every login went once through GetContext, and each new decision once to every agent
        # and once to the audit log, however the router batched them.
        assert m.total("aegis_router_batch_size_sum", downstream="context") == 2 * ROWS
        assert m.total("aegis_router_batch_size_sum", downstream="record") == ROWS
        record_calls = m.total("aegis_router_batch_size_count", downstream="record")
        assert 1 <= record_calls <= ROWS
        assert m.total("aegis_router_batch_queue_wait_seconds_count",
                       downstream="record") == record_calls
        assert m.total("rpc_client_duration_seconds_count", rpc_method="RecordBatch",
                       rpc_grpc_status_code="0") == record_calls
        assert m.total("rpc_server_duration_seconds_count", rpc_method="RecordBatch",
                       rpc_grpc_status_code="0") == record_calls
        # Each replay is one ScoreStream call.
        assert m.total("rpc_server_duration_seconds_count", rpc_method="ScoreStream",
                       rpc_grpc_status_code="0") == 2
        assert m.total("aegis_audit_commit_records_total") == ROWS
        assert 1 <= m.total("aegis_audit_commit_duration_seconds_count") <= ROWS
        assert m.total("aegis_audit_context_logins_total") == 2 * ROWS
        for entry in default_registry().agents:
            name = entry.name
            assert m.total("aegis_router_agent_signals_total", agent=name) == ROWS, name
            assert m.total("aegis_router_agent_duration_seconds_count", agent=name) == ROWS
            assert m.total("aegis_router_batch_size_sum", downstream=name) == ROWS
            assert m.total("aegis_agent_logins_total", agent=name) == ROWS
            batches = m.total("aegis_agent_batch_duration_seconds_count", agent=name)
            assert batches == m.total("aegis_router_batch_size_count", downstream=name)
            assert m.total("aegis_agent_login_duration_seconds_count", agent=name) == batches
            assert m.matching("aegis_agent_model_info", agent=name), name

        top = aegis("top", "--once", "--state-dir", str(state))
        assert top.returncode == 0, top.stderr
        assert all(entry.name in top.stdout for entry in default_registry().agents)
    finally:
        down = make("cluster-down", f"STATE={state}")
        assert down.returncode == 0, down.stdout + down.stderr
