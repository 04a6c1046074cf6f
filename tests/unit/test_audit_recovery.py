"""Recovery at start: the log is the source of truth for the chain head and the index."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from audit_service.embedded.store import INDEX_FILE
from audit_service.log.chain import canonical_record, encode_line
from audit_service.log.writer import RecoveryError
from audit_service.storage import DecisionFilter, ProblemKind
from tests.unit.audit_builders import (
    T0,
    audit_settings,
    log_lines,
    make_record,
    running_store,
    segment_paths,
)

USERS = ("alice", "bob", "carol")


def seed(tmp_path: Path, count: int = 6) -> None:
    async def scenario() -> None:
        async with running_store(audit_settings(tmp_path)) as store:
            for i in range(count):
                await store.record(
                    make_record(f"d-{i}", user_id=USERS[i % 3], ts=T0 - 100 + i, success=i != 2)
                )

    asyncio.run(scenario())


def answers(tmp_path: Path) -> tuple:
    """Everything the index serves, read through a freshly started store."""

    async def scenario() -> tuple:
        async with running_store(audit_settings(tmp_path)) as store:
            contexts = [
                await store.get_context(user, "dev-alice", "192.0.2.1", 64500, T0)
                for user in USERS
            ]
            page = await store.list_decisions(DecisionFilter())
            found = await store.get_decision("d-3")
            return contexts, page, found, (await store.verify()).ok

    return asyncio.run(scenario())


def test_a_torn_last_line_is_cut_and_the_chain_goes_on(tmp_path: Path) -> None:
    seed(tmp_path, count=3)
    segment = segment_paths(tmp_path)[-1]
    with segment.open("ab") as file:
        file.write(b'{"seq":4,"prev_hash":"00')  # the crash came mid-write: never acked

    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            result = await store.record(make_record("d-next"))
            return result, await store.verify()

    result, report = asyncio.run(scenario())
    assert segment.read_bytes().endswith(b"}\n")
    assert len(segment.read_bytes().splitlines()) == 3
    assert result.audit_ref.endswith("#4")
    assert report.ok, report.problems
    assert [json.loads(line)["seq"] for line in log_lines(tmp_path)] == [1, 2, 3, 4]


CHECKPOINTS = Path("checkpoints") / "test" / "local-1.jsonl"


def statements(tmp_path: Path) -> list[dict]:
    lines = (tmp_path / CHECKPOINTS).read_bytes().splitlines()
    return [json.loads(json.loads(line)["statement"]) for line in lines]


def restart_and_retry(tmp_path: Path, decision_id: str):
    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            found = await store.get_decision(decision_id)
            retried = await store.record(make_record(decision_id))
            return found, retried, await store.verify()

    return asyncio.run(scenario())


def test_records_a_crash_left_before_their_checkpoint_are_sealed_at_start(
    tmp_path: Path,
) -> None:
    """A crash between a batch's fsync and its checkpoint's write: the batch may have been
    acknowledged, so it stays, sealed at start; a torn line after it goes."""
    seed(tmp_path, count=2)
    segment = segment_paths(tmp_path)[-1]
    head_hash = json.loads(log_lines(tmp_path)[-1])["hash"]
    written, _ = encode_line(canonical_record(make_record("acked")), 3, head_hash)
    with segment.open("ab") as file:
        file.write(written + b'{"seq":4,')

    found, retried, report = restart_and_retry(tmp_path, "acked")
    assert found is not None and found[1].endswith("#3")
    assert retried.audit_ref.endswith("#3") and retried.duplicate
    assert report.ok, report.problems
    assert [(s["seq"], s["recovered"]) for s in statements(tmp_path)] == [
        (1, False), (2, False), (3, True)
    ]


def test_checkpoints_lost_with_the_page_cache_are_made_again(tmp_path: Path) -> None:
    """Checkpoint lines are fsynced only every checkpoint_sync_s: a power cut may lose the
    newest while their records, fsynced before each acknowledgement, stay."""
    seed(tmp_path, count=4)
    path = tmp_path / CHECKPOINTS
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:1]))

    found, retried, report = restart_and_retry(tmp_path, "d-3")
    assert found is not None and retried.duplicate
    assert report.ok, report.problems
    assert [(s["seq"], s["recovered"]) for s in statements(tmp_path)] == [(1, False), (4, True)]


def test_a_tail_that_does_not_continue_the_signed_chain_stops_the_start(
    tmp_path: Path,
) -> None:
    """Sealing a tail that was edited would launder the edit."""
    seed(tmp_path, count=2)
    written, _ = encode_line(canonical_record(make_record("forged")), 3, "0" * 64)
    with segment_paths(tmp_path)[-1].open("ab") as file:
        file.write(written)

    async def scenario() -> None:
        async with running_store(audit_settings(tmp_path)):
            pass

    with pytest.raises(RecoveryError, match="does not continue the chain"):
        asyncio.run(scenario())


def test_a_deleted_record_an_unsynced_checkpoint_covers_is_missing(tmp_path: Path) -> None:
    """The checkpoint of each commit is written at once, fsynced or not: deleting the newest
    record is caught by verify, live and after a restart."""
    settings = audit_settings(tmp_path, checkpoint_sync_s=3600)

    def delete_newest() -> None:
        segment = segment_paths(tmp_path)[-1]
        segment.write_bytes(b"".join(segment.read_bytes().splitlines(keepends=True)[:-1]))

    async def scenario():
        async with running_store(settings) as store:
            for i in range(3):
                await store.record(make_record(f"d-{i}"))
            delete_newest()
            live = await store.verify()
        async with running_store(settings) as store:
            return live, await store.verify()

    live, restarted = asyncio.run(scenario())
    for report in (live, restarted):
        assert ProblemKind.MISSING_RECORD in {p.kind for p in report.problems}
        assert any(p.location.endswith("#3") for p in report.problems), report.problems


def test_a_lost_checkpoint_file_leaves_the_records_unsigned(tmp_path: Path) -> None:
    """Signing them at start would launder a deleted checkpoint file: verify reports them."""
    seed(tmp_path, count=2)
    (tmp_path / "checkpoints" / "test" / "local-1.jsonl").unlink()

    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            await store.record(make_record("d-next"))
            return await store.verify()

    report = asyncio.run(scenario())
    assert [p.kind for p in report.problems] == [ProblemKind.UNANCHORED_RECORD]
    assert report.problems[0].location.endswith("local-1-000000000001.jsonl")


def test_an_empty_segment_left_by_a_crash_is_dropped(tmp_path: Path) -> None:
    seed(tmp_path, count=2)
    segment = segment_paths(tmp_path)[-1]
    empty = segment.with_name(segment.name.replace("000000000001", "000000000003"))
    empty.write_bytes(b"")

    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            return await store.record(make_record("d-next")), await store.verify()

    result, report = asyncio.run(scenario())
    assert result.audit_ref.endswith("#3")
    assert report.ok, report.problems


def test_rows_missing_from_the_index_are_re_indexed(tmp_path: Path) -> None:
    seed(tmp_path)
    before = answers(tmp_path)
    with sqlite3.connect(tmp_path / INDEX_FILE) as conn:
        conn.execute("DELETE FROM decisions WHERE decision_id IN ('d-1', 'd-3', 'd-5')")
    assert answers(tmp_path) == before
    assert before[3] is True


# Records one decision on the store of argv[1] when told to, says its reference, and waits to
# be killed.
_ACKNOWLEDGE_THEN_WAIT = """
import asyncio, sys
from pathlib import Path
from tests.unit.audit_builders import T0, audit_settings, make_record, running_store

async def main():
    async with running_store(audit_settings(Path(sys.argv[1]))) as store:
        print("started", flush=True)
        sys.stdin.readline()
        result = await store.record(make_record("d-acked", user_id="alice", ts=T0 - 50))
        print(result.audit_ref, flush=True)
        sys.stdin.readline()

asyncio.run(main())
"""


def test_a_decision_acknowledged_before_a_crash_cut_its_index_write_is_indexed_at_start(
    tmp_path: Path,
) -> None:
    """kill -9 after the acknowledgement, while the index write waits for SQLite's lock
    (held here): the log has the decision, the index does not, and a restart indexes it."""
    seed(tmp_path)
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", _ACKNOWLEDGE_THEN_WAIT, str(tmp_path)], cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "started\n"
        lock = sqlite3.connect(tmp_path / INDEX_FILE, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        child.stdin.write("go\n")
        child.stdin.flush()
        acked = child.stdout.readline().strip()
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        lock.execute("ROLLBACK")
        lock.close()
    finally:
        child.kill()
        child.wait()
    assert acked, "the decision was not acknowledged before its index write"
    with sqlite3.connect(tmp_path / INDEX_FILE) as conn:
        assert not conn.execute("SELECT 1 FROM decisions WHERE decision_id = 'd-acked'").fetchall()

    async def scenario() -> tuple:
        async with running_store(audit_settings(tmp_path)) as store:
            found = await store.get_decision("d-acked")
            _, claims = await store.contexts_and_claims([], ["ev-d-acked"])
            return found, claims, (await store.verify()).ok

    found, claims, ok = asyncio.run(scenario())
    assert found is not None and found[1] == acked
    assert claims["ev-d-acked"].decision_id == "d-acked"
    assert ok


def test_a_lost_index_is_rebuilt_from_the_log(tmp_path: Path) -> None:
    seed(tmp_path)
    before = answers(tmp_path)
    for path in tmp_path.glob(f"{INDEX_FILE}*"):
        path.unlink()
    assert answers(tmp_path) == before


def test_an_unreadable_last_record_stops_the_start(tmp_path: Path) -> None:
    seed(tmp_path, count=2)
    with segment_paths(tmp_path)[-1].open("ab") as file:
        file.write(b"not a record\n")

    async def scenario() -> None:
        async with running_store(audit_settings(tmp_path)):
            pass

    with pytest.raises(RecoveryError, match="run verify"):
        asyncio.run(scenario())
