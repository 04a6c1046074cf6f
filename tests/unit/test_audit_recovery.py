"""Recovery at start: the log is the source of truth for the chain head and the index."""

from __future__ import annotations

import asyncio
import json
import sqlite3
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


def test_records_no_checkpoint_signs_are_cut(tmp_path: Path) -> None:
    """A crash between a batch's fsync and its checkpoint's: the batch was never
    acknowledged, and its complete lines go like a torn one."""
    seed(tmp_path, count=2)
    segment = segment_paths(tmp_path)[-1]
    head_hash = json.loads(log_lines(tmp_path)[-1])["hash"]
    written, _ = encode_line(canonical_record(make_record("unacked")), 3, head_hash)
    with segment.open("ab") as file:
        file.write(written + b'{"seq":4,')

    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            found = await store.get_decision("unacked")
            retried = await store.record(make_record("unacked"))
            return found, retried, await store.verify()

    found, retried, report = asyncio.run(scenario())
    assert found is None
    assert retried.audit_ref.endswith("#3") and not retried.duplicate
    assert report.ok, report.problems


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
