"""What only the AWS backend does, on moto's server: the bucket and table `aegis audit init`
makes, locked segment objects, sharded hot users, batch sizes, crash recovery between the
segment and its checkpoint, several writers, and no acknowledgement without the PUT."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aegis_runtime.errors import Unavailable
from audit_service.aws.resources import BUCKET, INDEXES, OPERATIONAL_TTL_S, TTL_ATTRIBUTE
from audit_service.storage import DecisionFilter
from tests.service.audit_backends import Backend, clients_of, make_backend, moto_server
from tests.unit.audit_builders import T0, make_record

DAY = 86_400.0


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(tmp_path: Path, moto_endpoint: str) -> Backend:
    return make_backend("aws", tmp_path, moto_endpoint)


def record_all(backend: Backend, records: list, **settings: Any) -> list:
    async def scenario():
        async with backend.with_settings(**settings).running() as store:
            return await asyncio.gather(*(store.record(r) for r in records))

    return asyncio.run(scenario())


def test_init_makes_the_bucket_and_table_as_defined(aws: Backend) -> None:
    s3, ddb = clients_of(aws.settings)
    bucket, table = aws.settings.s3_bucket, aws.settings.dynamodb_table
    record_all(aws, [make_record("d-1")])
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules[0]["Transitions"][0]["StorageClass"] == "GLACIER"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
               .values())
    # moto's get_object_retention fails: the lock is read from head_object.
    for key in aws.segments() + aws.checkpoints():
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        days_left = (head["ObjectLockRetainUntilDate"].timestamp() - time.time()) / DAY
        assert BUCKET.retention_days - 1 < days_left <= BUCKET.retention_days
    description = ddb.describe_table(TableName=table)["Table"]
    assert {g["IndexName"] for g in description["GlobalSecondaryIndexes"]} == {
        i.name for i in INDEXES
    }
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", TTL_ATTRIBUTE)


def test_segments_and_checkpoints_are_laid_out_apart(aws: Backend) -> None:
    record_all(aws, [make_record(f"d-{i}") for i in range(3)])
    (segment,) = aws.segments()
    assert segment.startswith("audit/") and "/test/local-1-000000000001.jsonl" in segment
    (checkpoint,) = aws.checkpoints()
    assert checkpoint == "checkpoints/test/local-1/000000000003.json"
    statement = json.loads(json.loads(aws.read(checkpoint))["statement"])
    assert [(a["key"], a["records"]) for a in statement["segments"]] == [(segment, 3)]


def test_a_hot_user_is_spread_over_partitions_and_read_whole(aws: Backend) -> None:
    hot = {"hot_users": ["guest"], "hot_user_shards": 4}
    records = [make_record(f"g-{i:02}", user_id="guest", ts=T0 - 100 + i) for i in range(12)]
    record_all(aws, records, **hot)
    items = clients_of(aws.settings)[1].scan(
        TableName=aws.settings.dynamodb_table, FilterExpression="begins_with(PK, :user)",
        ExpressionAttributeValues={":user": {"S": "USER#guest"}},
    )["Items"]
    assert len({item["PK"]["S"] for item in items}) > 1
    expiry = {int(item[TTL_ATTRIBUTE]["N"]) for item in items}
    assert all(abs(e - (time.time() + OPERATIONAL_TTL_S)) < 600 for e in expiry)

    async def read():
        async with aws.with_settings(**hot).running() as store:
            context = await store.get_context("guest", "dev-alice", "192.0.2.1", 64500, T0)
            page = await store.list_decisions(DecisionFilter(user_id="guest"), 5)
            return context, page

    context, page = asyncio.run(read())
    assert [p.event.event_id for p in context.history] == [
        f"ev-g-{i:02}" for i in range(11, -1, -1)
    ]
    assert context.velocity.user_attempts == 12
    assert [d.decision_id for d in page.decisions] == [f"g-{i:02}" for i in (11, 10, 9, 8, 7)]


def test_index_batches_hold_at_most_25_items(aws: Backend) -> None:
    """moto takes 26-item batches that AWS refuses: the sizes are watched on the way out."""
    sizes: list[int] = []

    def watch(params: dict, **_: Any) -> None:
        sizes.extend(len(items) for items in params["RequestItems"].values())

    events = clients_of(aws.settings)[1].meta.events
    events.register("provide-client-params.dynamodb.BatchWriteItem", watch)
    try:
        record_all(aws, [make_record(f"d-{i}", ts=T0 + i) for i in range(60)])
    finally:
        events.unregister("provide-client-params.dynamodb.BatchWriteItem", watch)
    assert sum(sizes) == 60 and max(sizes) == 25


def test_a_checkpoint_lost_in_a_crash_is_made_again_at_start(aws: Backend) -> None:
    """Records are acknowledged once their segment is in S3; a crash before their checkpoint
    leaves them unsigned, and the next start signs them (marked as recovered)."""
    record_all(aws, [make_record("d-1")])
    record_all(aws, [make_record("d-2")])
    aws.delete(aws.checkpoints()[-1])

    async def scenario():
        async with aws.running() as store:
            return await store.verify(), await store.get_decision("d-2")

    report, found = asyncio.run(scenario())
    assert report.ok, report.problems
    assert found is not None
    statement = json.loads(json.loads(aws.read(aws.checkpoints()[-1]))["statement"])
    assert statement["recovered"] is True and statement["seq"] == 2


def test_writers_share_the_log_and_a_decision_is_recorded_once(aws: Backend) -> None:
    first = record_all(aws, [make_record("d-1"), make_record("d-2")])
    second = record_all(aws, [make_record("d-2"), make_record("d-3")], writer_id="local-2")
    assert second[0].duplicate and second[0].audit_ref == first[1].audit_ref
    assert "/local-2-000000000001.jsonl#1" in second[1].audit_ref

    async def scenario():
        async with aws.running() as store:
            return await store.verify()

    report = asyncio.run(scenario())
    assert report.ok, report.problems
    assert (report.records_checked, report.segments_checked) == (3, 2)


def test_nothing_is_acknowledged_without_the_segment_put(aws: Backend) -> None:
    """The next segment's key is taken (as if a second process used this writer id): the
    batch fails, nothing is indexed, and the store refuses to continue that chain."""
    async def scenario():
        async with aws.running() as store:
            await store.record(make_record("d-1"))
            taken = aws.segments()[0].replace("000000000001", "000000000002")
            aws.write(taken, b"someone else's bytes\n")
            with pytest.raises(Unavailable):
                await store.record(make_record("d-2"))
            with pytest.raises(Unavailable, match="writer id"):
                await store.record(make_record("d-3"))
            return await store.get_decision("d-2")

    assert asyncio.run(scenario()) is None
