"""`make cluster-up INGEST=kinesis` as real processes: moto with the streams, the consumer beside
the mesh, logins put with `aegis stream put` come back decided through `aegis stream tail`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aegis_mesh.cluster import MOTO_CREDENTIALS, MOTO_PORT, local_address, moto_ingest_env
from bench.population import Population
from router_service.client.eventjson import event_json_line
from tests.integration.test_cluster import aegis, make

pytestmark = pytest.mark.integration
LOGINS = 12


def test_the_consumer_runs_beside_the_mesh_and_decides_what_is_put(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = f"STATE={tmp_path / 'state'}"
    population = Population.short_history(4, seed=3)
    logins = tmp_path / "logins.jsonl"
    events = [population.next_login() for _ in range(LOGINS)]
    logins.write_text("".join(event_json_line(e, None) + "\n" for e in events))
    streams = {f"AEGIS_INGEST_{k}": v for k, v in moto_ingest_env(local_address(MOTO_PORT)).items()}
    for key, value in (streams | MOTO_CREDENTIALS).items():
        monkeypatch.setenv(key, value)
    assert "AEGIS_INGEST_AWS_ENDPOINT_URL" in os.environ

    up = make("cluster-up", "INGEST=kinesis", state)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        status = aegis("cluster", "status", "--json", "--state-dir", str(tmp_path / "state"))
        assert status.returncode == 0, status.stdout + status.stderr
        assert {s["service"] for s in json.loads(status.stdout)} >= {"moto", "router", "ingest"}

        put = aegis("stream", "put", str(logins))
        assert put.returncode == 0, put.stderr
        tail = aegis("stream", "tail", "--from-start", "--limit", str(LOGINS))
        assert tail.returncode == 0, tail.stderr
        decisions = [json.loads(line) for line in tail.stdout.splitlines()]
        assert sorted(d["event_id"] for d in decisions) == sorted(e.event_id for e in events)
    finally:
        down = make("cluster-down", state)
        assert down.returncode == 0, down.stdout + down.stderr
    after = aegis("cluster", "status", "--state-dir", str(tmp_path / "state"))
    assert "SERVING" not in after.stdout
