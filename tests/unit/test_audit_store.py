"""What only the embedded store does: group commit sharing fsyncs, rotating segment files,
fail-stop, one store per folder. (The contract both backends keep is in tests/service.)"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path

import pytest

from aegis_runtime.errors import Unavailable
from audit_service.embedded.store import INDEX_FILE
from audit_service.storage import ContextQuery
from tests.unit.audit_builders import (
    T0,
    audit_settings,
    log_lines,
    make_record,
    running_store,
    segment_paths,
)

DAY = 86_400.0
RECORDED_AT = 1_717_243_200.0  # 2024-06-01T12:00:00Z


def test_concurrent_records_share_commits(tmp_path: Path) -> None:
    count = 200

    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            results = await asyncio.gather(
                *(store.record(make_record(f"d-{i}", ts=T0 + i)) for i in range(count))
            )
            return results, store.commit_count

    results, commits = asyncio.run(scenario())
    assert 1 <= commits < count
    assert len({r.audit_ref for r in results}) == count
    assert [json.loads(line)["seq"] for line in log_lines(tmp_path)] == list(range(1, count + 1))


def test_batch_size_is_bounded(tmp_path: Path) -> None:
    async def scenario():
        async with running_store(audit_settings(tmp_path, max_batch_records=4)) as store:
            await asyncio.gather(*(store.record(make_record(f"d-{i}")) for i in range(10)))
            return store.commit_count

    assert asyncio.run(scenario()) >= 3


def test_segments_rotate_on_record_count(tmp_path: Path) -> None:
    async def scenario():
        async with running_store(audit_settings(tmp_path, segment_max_records=3)) as store:
            for i in range(7):
                await store.record(make_record(f"d-{i}"))
            return await store.verify()

    report = asyncio.run(scenario())
    assert [p.name.rsplit("-", 1)[1] for p in segment_paths(tmp_path)] == [
        "000000000001.jsonl",
        "000000000004.jsonl",
        "000000000007.jsonl",
    ]
    assert report.ok and report.records_checked == 7 and report.segments_checked == 3


def test_segments_rotate_on_size(tmp_path: Path) -> None:
    async def scenario():
        async with running_store(audit_settings(tmp_path, segment_max_bytes=2048)) as store:
            await asyncio.gather(*(store.record(make_record(f"d-{i}")) for i in range(6)))
            return await store.verify()

    report = asyncio.run(scenario())
    paths = segment_paths(tmp_path)
    assert len(paths) > 1
    # A segment holds at least one record, and takes no more once full.
    assert all(len(p.read_bytes().splitlines()) >= 1 for p in paths)
    assert all(p.stat().st_size <= 2048 for p in paths if len(p.read_bytes().splitlines()) > 1)
    assert report.ok and report.records_checked == 6


def test_segments_rotate_on_utc_day_of_recording(tmp_path: Path) -> None:
    now = [RECORDED_AT]

    async def scenario():
        async with running_store(audit_settings(tmp_path), clock=lambda: now[0]) as store:
            first = await store.record(make_record("d-1"))
            now[0] += DAY
            second = await store.record(make_record("d-2"))
            return first, second, await store.verify()

    first, second, report = asyncio.run(scenario())
    assert first.audit_ref == "audit/2024/06/01/test/local-1-000000000001.jsonl#1"
    assert second.audit_ref == "audit/2024/06/02/test/local-1-000000000002.jsonl#2"
    assert report.ok and report.segments_checked == 2


def test_failed_write_stops_the_store(tmp_path: Path) -> None:
    """After a failed append nothing more is acknowledged: the state on disk is uncertain."""
    settings = audit_settings(tmp_path, segment_max_records=1)

    async def scenario():
        async with running_store(settings, clock=lambda: RECORDED_AT) as store:
            first = await store.record(make_record("d-1"))
            # The next segment's file already exists (as if a second process used this writer
            # id): the append must fail rather than mix two chains.
            next_segment = first.audit_ref.split("#")[0].replace("000000000001", "000000000002")
            (tmp_path / next_segment).write_bytes(b"")
            with pytest.raises(Unavailable):
                await store.record(make_record("d-2", ts=T0 + 1))
            with pytest.raises(Unavailable):
                await store.record(make_record("d-3", ts=T0 + 2))
            return await store.get_decision("d-2")

    assert asyncio.run(scenario()) is None


def test_one_store_per_folder(tmp_path: Path) -> None:
    """Two writers of one chain would break it: a second store on the folder is refused."""

    async def scenario():
        async with running_store(audit_settings(tmp_path)):
            with pytest.raises(Unavailable, match="in use"):
                async with running_store(audit_settings(tmp_path)):
                    pass
        async with running_store(audit_settings(tmp_path)) as store:
            return await store.record(make_record("d-1"))

    assert asyncio.run(scenario()).audit_ref.endswith("#1")


def test_each_batch_is_signed_in_one_checkpoint_line(tmp_path: Path) -> None:
    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            await asyncio.gather(*(store.record(make_record(f"d-{i}")) for i in range(3)))
            await store.record(make_record("d-3"))

    asyncio.run(scenario())
    lines = (tmp_path / "checkpoints" / "test" / "local-1.jsonl").read_bytes().splitlines()
    statements = [json.loads(json.loads(line)["statement"]) for line in lines]
    assert [(s["seq"], [a["records"] for a in s["segments"]]) for s in statements] == [
        (3, [3]), (4, [4])
    ]
    assert statements[-1]["head_hash"] == json.loads(log_lines(tmp_path)[-1])["hash"]


def test_a_commit_fsyncs_its_segment_and_the_checkpoint_only_on_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fsync per commit: the checkpoint file is fsynced for the writer's first seal and
    at drain, not per commit (its lines are written, so verify sees each one)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    async def scenario():
        async with running_store(audit_settings(tmp_path, checkpoint_sync_s=3600)) as store:
            synced.clear()  # what recovery and start-up did
            for i in range(4):
                await store.record(make_record(f"d-{i}"))
            during = list(synced)
            return during, (await store.verify()).ok

    during, ok = asyncio.run(scenario())
    checkpoint = str(tmp_path / "checkpoints" / "test" / "local-1.jsonl")
    segment = str(segment_paths(tmp_path)[0])
    assert [path for path in during if path.endswith(".jsonl")] == [
        segment, checkpoint, segment, segment, segment
    ]
    assert synced[len(during):].count(checkpoint) == 1  # at drain
    assert ok
    lines = (tmp_path / "checkpoints" / "test" / "local-1.jsonl").read_bytes().splitlines()
    assert len(lines) == 4


def test_while_the_index_lags_a_commit_memory_answers_with_it(tmp_path: Path) -> None:
    """The reader thread's path (GetContext when the event loop finds the cache's lock busy):
    while the last acknowledged commit is not indexed yet (SQLite's write lock is held here,
    so its index write waits), a context memory holds is answered at once, that commit in it,
    and so is the event's claim."""
    settings = audit_settings(tmp_path)
    query = ContextQuery("alice", "dev-alice", "192.0.2.1", 64500, T0 + 10)

    async def scenario() -> tuple:
        async with running_store(settings) as store:
            await store.record(make_record("d-1", ts=T0))
            (before,) = await store.get_contexts([query])  # memory now holds alice's keys
            lock = sqlite3.connect(tmp_path / INDEX_FILE, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            try:
                await store.record(make_record("d-2", ts=T0 + 5))
                (after,), claims = store._read_contexts([query], ["ev-d-2"])
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            return before, after, claims

    before, after, claims = asyncio.run(scenario())
    assert len(after.history) == len(before.history) + 1
    assert claims["ev-d-2"].decision_id == "d-2"
