"""The audit store contract, run on both backends: durable append, idempotence, reads,
listing, recovery and rebuilding the index from the log."""

from __future__ import annotations

import asyncio
import json

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_domain.types import Action
from aegis_runtime.errors import InvalidArgument, Unavailable
from audit_service.log.chain import GENESIS_HASH, canonical_record, chain_hash
from audit_service.storage import DecisionFilter
from tests.service import audit_backends
from tests.service.audit_backends import Backend
from tests.unit.audit_builders import T0, make_record

moto_endpoint = audit_backends.moto_endpoint
backend = audit_backends.backend

RECORDED_AT = 1_717_243_200.0  # 2024-06-01T12:00:00Z
USERS = ("alice", "bob", "carol")


def test_record_then_read_back(backend: Backend) -> None:
    record = make_record("d-1")

    async def scenario():
        async with backend.running(clock=lambda: RECORDED_AT) as store:
            result = await store.record(record)
            return result, await store.get_decision("d-1"), await store.get_decision("nope")

    result, found, missing = asyncio.run(scenario())
    assert result.duplicate is False
    assert result.audit_ref == "audit/2024/06/01/test/local-1-000000000001.jsonl#1"
    assert found == (record, result.audit_ref)
    assert missing is None


def test_each_record_is_one_chained_json_line(backend: Backend) -> None:
    first, second = make_record("d-1"), make_record("d-2", user_id="bob")

    async def scenario():
        async with backend.running() as store:
            await store.record(first)
            await store.record(second)

    asyncio.run(scenario())
    lines = [json.loads(line) for line in backend.lines()]
    assert [line["seq"] for line in lines] == [1, 2]
    assert lines[0]["prev_hash"] == GENESIS_HASH
    assert lines[0]["hash"] == chain_hash(GENESIS_HASH, canonical_record(first))
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    assert lines[1]["hash"] == chain_hash(lines[0]["hash"], canonical_record(second))
    # The protobuf JSON mapping with the .proto field names, readable by Athena and people.
    assert lines[1]["decision"]["action"] == "ACTION_ALLOW"
    assert lines[1]["event"]["user_id"] == "bob"


def test_repeat_returns_first_reference_and_writes_nothing(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
            first = await store.record(make_record("d-1"))
            return first, await store.record(make_record("d-1", risk=0.9))

    first, again = asyncio.run(scenario())
    assert again.duplicate is True and again.audit_ref == first.audit_ref
    assert len(backend.lines()) == 1


def test_concurrent_repeat_is_written_once(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
            return await asyncio.gather(*(store.record(make_record("d-1")) for _ in range(5)))

    results = asyncio.run(scenario())
    assert len({r.audit_ref for r in results}) == 1
    assert sorted(r.duplicate for r in results) == [False, True, True, True, True]
    assert len(backend.lines()) == 1


def test_repeat_after_restart_is_a_duplicate(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
            first = await store.record(make_record("d-1"))
        async with backend.running() as store:
            return first, await store.record(make_record("d-1"))

    first, again = asyncio.run(scenario())
    assert again.duplicate and again.audit_ref == first.audit_ref
    assert len(backend.lines()) == 1


def test_concurrent_records_are_chained_in_one_order(backend: Backend) -> None:
    count = 40

    async def scenario():
        async with backend.running() as store:
            return await asyncio.gather(
                *(store.record(make_record(f"d-{i}", ts=T0 + i)) for i in range(count))
            )

    results = asyncio.run(scenario())
    assert len({r.audit_ref for r in results}) == count
    assert [json.loads(line)["seq"] for line in backend.lines()] == list(range(1, count + 1))


def test_the_chain_goes_on_after_a_restart(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
            await store.record(make_record("d-1"))
        async with backend.running() as store:
            second = await store.record(make_record("d-2"))
            return second, await store.verify()

    second, report = asyncio.run(scenario())
    assert second.audit_ref.endswith("#2")
    assert report.ok, report.problems


def test_list_decisions_filters_and_pages(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
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
            alice_pages = [await store.list_decisions(DecisionFilter(user_id="alice"), 3)]
            alice_pages.append(await store.list_decisions(
                DecisionFilter(user_id="alice"), 3, alice_pages[0].next_page_token
            ))
            challenged_no = await store.list_decisions(
                DecisionFilter(action=Action.CHALLENGE, country="NO")
            )
            challenged = await store.list_decisions(DecisionFilter(action=Action.CHALLENGE))
            window = await store.list_decisions(DecisionFilter(since=T0 + 2, until=T0 + 4))
            return pages, alice, alice_pages, challenged_no, challenged, window

    pages, alice, alice_pages, challenged_no, challenged, window = asyncio.run(scenario())
    assert pages == [["d-6", "d-5", "d-4"], ["d-3", "d-2", "d-1"], ["d-0"]]
    assert [d.decision_id for d in alice.decisions] == ["d-6", "d-4", "d-2", "d-0"]
    assert [[d.decision_id for d in p.decisions] for p in alice_pages] == [
        ["d-6", "d-4", "d-2"], ["d-0"]
    ]
    assert [d.decision_id for d in challenged_no.decisions] == ["d-5"]
    assert [d.decision_id for d in challenged.decisions] == ["d-6", "d-5"]
    assert [d.decision_id for d in window.decisions] == ["d-3", "d-2"]
    summary = alice.decisions[0]
    assert (summary.event_id, summary.user_id, summary.country) == ("ev-d-6", "alice", "SE")
    assert summary.event_time == T0 + 6 and summary.action == pb.ACTION_CHALLENGE
    assert summary.audit_ref.endswith("#7")


def test_equal_event_times_page_by_decision_id(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
            await asyncio.gather(*(store.record(make_record(f"d-{i}")) for i in range(5)))
            first = await store.list_decisions(DecisionFilter(), 2)
            second = await store.list_decisions(DecisionFilter(), 2, first.next_page_token)
            return [d.decision_id for d in first.decisions + second.decisions]

    assert asyncio.run(scenario()) == ["d-4", "d-3", "d-2", "d-1"]


def test_page_size_is_capped(backend: Backend) -> None:
    backend = backend.with_settings(list_page_size=2, list_max_page_size=3)

    async def scenario():
        async with backend.running() as store:
            for i in range(5):
                await store.record(make_record(f"d-{i}", ts=T0 + i))
            default = await store.list_decisions(DecisionFilter())
            capped = await store.list_decisions(DecisionFilter(), page_size=100)
            return len(default.decisions), len(capped.decisions)

    assert asyncio.run(scenario()) == (2, 3)


def test_bad_page_token_names_the_field(backend: Backend) -> None:
    async def scenario():
        async with backend.running() as store:
            await store.list_decisions(DecisionFilter(), page_token="not-a-token")

    with pytest.raises(InvalidArgument) as caught:
        asyncio.run(scenario())
    assert caught.value.field == "page_token"


def test_record_before_start_is_unavailable(backend: Backend) -> None:
    with pytest.raises(Unavailable):
        asyncio.run(backend.store().record(make_record("d-1")))


def _seed_users(backend: Backend, count: int = 6) -> None:
    async def scenario() -> None:
        async with backend.running() as store:
            for i in range(count):
                await store.record(
                    make_record(f"d-{i}", user_id=USERS[i % 3], ts=T0 - 100 + i, success=i != 2,
                                action=pb.ACTION_ESCALATE if i == 4 else pb.ACTION_ALLOW)
                )

    asyncio.run(scenario())


def _answers(backend: Backend) -> tuple:
    """Everything the index serves, read through a freshly started store."""

    async def scenario() -> tuple:
        async with backend.running() as store:
            contexts = [
                await store.get_context(user, "dev-alice", "192.0.2.1", 64500, T0)
                for user in USERS
            ]
            return (
                contexts,
                await store.list_decisions(DecisionFilter()),
                await store.list_decisions(DecisionFilter(user_id="bob")),
                await store.get_decision("d-3"),
                await store.list_reviews(decided=False),
                (await store.verify()).ok,
            )

    return asyncio.run(scenario())


def test_a_lost_index_is_rebuilt_from_the_log(backend: Backend) -> None:
    _seed_users(backend)
    before = _answers(backend)
    assert before[-1] is True and len(before[4].entries) == 1
    backend.drop_index()
    assert asyncio.run(backend.store().rebuild_index()) == 6
    assert _answers(backend) == before
