"""The embedded audit store: durable append, idempotence, group commit, rotation, listing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_domain.types import Action
from aegis_runtime.errors import InvalidArgument, Unavailable
from audit_service.chain import GENESIS_HASH, canonical_record, chain_hash
from audit_service.embedded import EmbeddedAuditStore
from audit_service.storage import DecisionFilter
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


def test_record_then_read_back(tmp_path: Path) -> None:
    record = make_record("d-1")

    async def scenario():
        async with running_store(audit_settings(tmp_path), clock=lambda: RECORDED_AT) as store:
            result = await store.record(record)
            found = await store.get_decision("d-1")
            missing = await store.get_decision("d-unknown")
            return result, found, missing

    result, found, missing = asyncio.run(scenario())
    assert result.duplicate is False
    assert result.audit_ref == "audit/2024/06/01/test/local-1-000000000001.jsonl#1"
    assert found == (record, result.audit_ref)
    assert missing is None


def test_each_record_is_one_chained_json_line(tmp_path: Path) -> None:
    first, second = make_record("d-1"), make_record("d-2", user_id="bob")

    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            await store.record(first)
            await store.record(second)

    asyncio.run(scenario())
    lines = [json.loads(line) for line in log_lines(tmp_path)]
    assert [line["seq"] for line in lines] == [1, 2]
    assert lines[0]["prev_hash"] == GENESIS_HASH
    assert lines[0]["hash"] == chain_hash(GENESIS_HASH, canonical_record(first))
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    assert lines[1]["hash"] == chain_hash(lines[0]["hash"], canonical_record(second))
    # The protobuf JSON mapping with the .proto field names, readable by Athena and people.
    assert lines[1]["decision"]["decision_id"] == "d-2"
    assert lines[1]["decision"]["action"] == "ACTION_ALLOW"
    assert lines[1]["event"]["user_id"] == "bob"


def test_repeat_returns_first_reference_and_writes_nothing(tmp_path: Path) -> None:
    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            first = await store.record(make_record("d-1"))
            again = await store.record(make_record("d-1", risk=0.9))
            return first, again

    first, again = asyncio.run(scenario())
    assert again.duplicate is True
    assert again.audit_ref == first.audit_ref
    assert len(log_lines(tmp_path)) == 1


def test_concurrent_repeat_is_written_once(tmp_path: Path) -> None:
    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            return await asyncio.gather(*(store.record(make_record("d-1")) for _ in range(5)))

    results = asyncio.run(scenario())
    assert len({r.audit_ref for r in results}) == 1
    assert sorted(r.duplicate for r in results) == [False, True, True, True, True]
    assert len(log_lines(tmp_path)) == 1


def test_repeat_after_restart_is_a_duplicate(tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)

    async def scenario():
        async with running_store(settings) as store:
            first = await store.record(make_record("d-1"))
        async with running_store(settings) as store:
            return first, await store.record(make_record("d-1"))

    first, again = asyncio.run(scenario())
    assert again.duplicate and again.audit_ref == first.audit_ref
    assert len(log_lines(tmp_path)) == 1


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


def test_list_decisions_filters_and_pages(tmp_path: Path) -> None:
    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            for i in range(7):
                await store.record(
                    make_record(
                        f"d-{i}",
                        user_id="alice" if i % 2 == 0 else "bob",
                        ts=T0 + i,
                        action=pb.ACTION_CHALLENGE if i >= 5 else pb.ACTION_ALLOW,
                        country="SE" if i == 6 else "NO",
                    )
                )
            pages, token = [], ""
            while True:
                page = await store.list_decisions(DecisionFilter(), 3, token)
                pages.append([d.decision_id for d in page.decisions])
                token = page.next_page_token
                if not token:
                    break
            alice = await store.list_decisions(DecisionFilter(user_id="alice"))
            challenged_no = await store.list_decisions(
                DecisionFilter(action=Action.CHALLENGE, country="NO")
            )
            window = await store.list_decisions(DecisionFilter(since=T0 + 2, until=T0 + 4))
            return pages, alice, challenged_no, window

    pages, alice, challenged_no, window = asyncio.run(scenario())
    assert pages == [["d-6", "d-5", "d-4"], ["d-3", "d-2", "d-1"], ["d-0"]]
    assert [d.decision_id for d in alice.decisions] == ["d-6", "d-4", "d-2", "d-0"]
    assert [d.decision_id for d in challenged_no.decisions] == ["d-5"]
    assert [d.decision_id for d in window.decisions] == ["d-3", "d-2"]
    summary = alice.decisions[0]
    assert (summary.event_id, summary.user_id, summary.country) == ("ev-d-6", "alice", "SE")
    assert summary.event_time == T0 + 6 and summary.action == pb.ACTION_CHALLENGE
    assert summary.audit_ref.endswith("#7")


def test_page_size_is_capped(tmp_path: Path) -> None:
    async def scenario():
        settings = audit_settings(tmp_path, list_page_size=2, list_max_page_size=3)
        async with running_store(settings) as store:
            for i in range(5):
                await store.record(make_record(f"d-{i}", ts=T0 + i))
            default = await store.list_decisions(DecisionFilter())
            capped = await store.list_decisions(DecisionFilter(), page_size=100)
            return len(default.decisions), len(capped.decisions)

    assert asyncio.run(scenario()) == (2, 3)


def test_bad_page_token_names_the_field(tmp_path: Path) -> None:
    async def scenario():
        async with running_store(audit_settings(tmp_path)) as store:
            await store.list_decisions(DecisionFilter(), page_token="not-a-token")

    with pytest.raises(InvalidArgument) as caught:
        asyncio.run(scenario())
    assert caught.value.field == "page_token"


def test_record_before_start_is_unavailable(tmp_path: Path) -> None:
    store = EmbeddedAuditStore(audit_settings(tmp_path))
    with pytest.raises(Unavailable):
        asyncio.run(store.record(make_record("d-1")))


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
