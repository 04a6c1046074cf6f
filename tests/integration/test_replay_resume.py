"""A replay longer than the router's max connection age: the connection is closed under it
(the max-age grace cuts the stream, as a restart or a rolling deploy would), the replay
resumes, and every row is decided exactly once; --resume finishes an interrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cluster import aegis, make

pytestmark = pytest.mark.integration
ROWS = 2000


def test_replay_through_closing_connections_decides_every_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Connections last 1 s and streams get 0.5 s of grace (below the stream's own time limit):
    # each stream is cut mid-row, with rows recorded whose replies are lost. 2,000 rows in
    # 1.5 s would be 1,300 decisions/s through the whole mesh, several times what a CI runner
    # does (a CI run at 5 s of age finished inside one connection), so the cut always happens.
    monkeypatch.setenv("AEGIS_ROUTER_MAX_CONNECTION_AGE_S", "1")
    monkeypatch.setenv("AEGIS_ROUTER_GRACE_PERIOD_S", "0.5")
    logins = tmp_path / "logins.jsonl"
    generated = aegis("generate", "--events", str(ROWS), "--seed", "11", "--out", str(logins))
    assert generated.returncode == 0, generated.stderr
    state = tmp_path / "state"
    up = make("cluster-up", f"STATE={state}")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        out = tmp_path / "decisions.jsonl"
        replay = aegis("replay", str(logins), "--json", "--no-progress", "--out", str(out))
        assert replay.returncode == 0, replay.stderr
        summary = json.loads(replay.stdout)
        assert summary["rows"] == summary["decisions"] == ROWS

        first = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted(r["line"] for r in first) == list(range(1, ROWS + 1))
        decided = {r["line"]: r["decision_id"] for r in first}
        assert len(set(decided.values())) == ROWS
        streams = (state / "logs" / "router.log").read_text().count("RouterService/ScoreStream")
        assert streams > 1  # the connection was closed under the replay, which went on

        # Interrupted after 1200 rows: the resumed run sends the other 800, those decided
        # but not written get the recorded decision back, and OUT ends with each row once.
        out.write_text("".join(f"{json.dumps(r)}\n" for r in first[:1200]))
        resumed = aegis("replay", str(logins), "--json", "--no-progress", "--resume", str(out))
        assert resumed.returncode == 0, resumed.stderr
        again = [json.loads(line) for line in out.read_text().splitlines()]
        assert {r["line"]: r["decision_id"] for r in again} == decided
        assert len(again) == ROWS

        verify = aegis("audit", "verify", "--json")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        # Every row is in the log exactly once: no repeat was recorded again.
        assert int(json.loads(verify.stdout)["records_checked"]) == ROWS
    finally:
        down = make("cluster-down", f"STATE={state}")
        assert down.returncode == 0, down.stdout + down.stderr
