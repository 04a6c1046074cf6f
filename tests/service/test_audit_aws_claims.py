"""One decision per event id across AWS writers, on moto's server: a writer claims a login's
event id before it writes the decision, so two writers racing on the same logins log one
decision each; a claim left by a crash (before the PUT, or between the PUT and the index)
is recovered, and the claims of a PUT that did not land are given up."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_runtime.errors import Unavailable
from audit_service.aws.clients import make_clients
from audit_service.aws.items import claim_item, decision_key
from audit_service.aws.store import AwsAuditStore
from audit_service.index_rows import IndexedDecision, indexed_entry
from audit_service.log.chain import decode_line
from audit_service.storage import RecordResult
from tests.service import audit_backends, test_audit_aws
from tests.service.audit_backends import Backend, clients_of
from tests.service.outage import Outage
from tests.unit.audit_builders import make_record

moto_endpoint = audit_backends.moto_endpoint
aws = test_audit_aws.aws


def decided_by(writer: str, login: int) -> pb.DecisionRecord:
    """Login number `login` (the same event every time), decided as `{writer}-{login}`."""
    record = make_record(f"login-{login}")
    record.decision.decision_id = f"{writer}-{login}"
    return record


def logged_events(backend: Backend) -> Counter[str]:
    """How many decisions the log holds per event id."""
    records = (decode_line(line).record() for line in backend.lines())
    return Counter(r.event.event_id for r in records if not r.HasField("review"))


def leave_claim(backend: Backend, record: pb.DecisionRecord, segment: str, at: float) -> None:
    """The event item a writer leaves when it dies after claiming `record`'s event for it,
    its record to be written to `segment`."""
    row = indexed_entry(record)
    assert isinstance(row, IndexedDecision)
    clients_of(backend.settings)[1].put_item(
        TableName=backend.settings.dynamodb_table, Item=claim_item(row, segment, at)
    )


def test_two_writers_racing_on_the_same_logins_log_one_decision_each(aws: Backend) -> None:
    logins = 30

    async def scenario() -> tuple[list[object], list[RecordResult]]:
        async with aws.running() as one, aws.with_settings(writer_id="local-2").running() as two:
            raced = await asyncio.gather(
                *(store.record(decided_by(writer, n))
                  for n in range(logins) for writer, store in (("a", one), ("b", two))),
                return_exceptions=True,
            )
            # Refused ones (the other writer's decision not readable yet) come again.
            again = [await one.record(decided_by(writer, n))
                     for n in range(logins) for writer in "ab"]
        return raced, again

    raced, again = asyncio.run(scenario())
    for n in range(logins):
        results = {writer: raced[2 * n + i] for i, writer in enumerate("ab")}
        own = [w for w, r in results.items()
               if isinstance(r, RecordResult) and not r.duplicate]
        assert len(own) == 1, results
        winner = f"{own[0]}-{n}"
        for result in results.values():
            assert isinstance(result, RecordResult | Unavailable), result
            if isinstance(result, RecordResult) and result.decided is not None:
                assert result.decided.decision_id == winner
        for result in again[2 * n : 2 * n + 2]:
            decided = result.decided.decision_id if result.decided else None
            assert decided in (None, winner) and result.duplicate
    assert logged_events(aws) == Counter({f"ev-login-{n}": 1 for n in range(logins)})


def test_a_claim_left_before_its_put_is_retried_or_taken_after_the_lease(aws: Backend) -> None:
    now = time.time()
    lease = aws.settings.aws_claim_lease_s
    nowhere = "audit/2026/12/06/test/local-9-000000000001.jsonl"
    leave_claim(aws, decided_by("a", 0), nowhere, now)
    leave_claim(aws, decided_by("a", 1), nowhere, now)

    async def scenario() -> tuple[RecordResult, RecordResult, RecordResult]:
        async with aws.running() as store:
            # The router retrying the claimed decision itself: the claim is renewed.
            retried = await store.record(decided_by("a", 0))
            # Another decision of a login whose claim still holds: come again later.
            with pytest.raises(Unavailable, match="not readable yet"):
                await store.record(decided_by("b", 1))
        async with aws.running(clock=lambda: time.time() + lease) as later:
            taken = await later.record(decided_by("b", 1))
            repeat = await later.record(decided_by("a", 1))
        return retried, taken, repeat

    retried, taken, repeat = asyncio.run(scenario())
    assert not retried.duplicate and retried.decided is None
    assert not taken.duplicate and taken.decided is None
    assert repeat.decided is not None and repeat.decided.decision_id == "b-1"
    assert logged_events(aws) == Counter({"ev-login-0": 1, "ev-login-1": 1})


def test_a_claim_whose_record_was_written_but_not_indexed_stands(aws: Backend) -> None:
    """The writer died between its PUT and its index writes: after the lease, a writer
    that meets the claim indexes that segment, and the claimed decision answers."""
    first = decided_by("a", 0)

    async def record(record: pb.DecisionRecord, writer: str, shift: float = 0.0
                     ) -> RecordResult:
        other = aws.with_settings(writer_id=writer)
        async with other.running(clock=lambda: time.time() + shift) as store:
            return await store.record(record)

    asyncio.run(record(first, "local-1"))
    (segment,) = aws.segments()
    ddb = clients_of(aws.settings)[1]
    ddb.delete_item(TableName=aws.settings.dynamodb_table, Key=decision_key("a-0"))
    leave_claim(aws, first, segment, time.time())

    with pytest.raises(Unavailable, match="not readable yet"):
        asyncio.run(record(decided_by("b", 0), "local-2"))
    answer = asyncio.run(record(decided_by("b", 0), "local-2",
                                shift=aws.settings.aws_claim_lease_s))
    assert answer.decided is not None and answer.decided.decision_id == "a-0"
    assert logged_events(aws) == Counter({"ev-login-0": 1})


def test_the_claims_of_a_put_that_did_not_land_are_given_up(aws: Backend) -> None:
    """S3 out, DynamoDB up: the batch claims its logins, its PUT fails. Once the store has
    settled that PUT (it did not land), another decision of the login is written at once,
    not a lease later."""
    relay = Outage(aws.settings.aws_endpoint_url)
    settings = aws.settings.model_copy(update={"aws_retry_s": 1.0, "aws_probe_s": 0.02})
    s3_through_relay = make_clients(settings.model_copy(
        update={"aws_endpoint_url": relay.url}
    ))[0]
    store = AwsAuditStore(settings, clients=(s3_through_relay, clients_of(settings)[1]))

    async def scenario() -> RecordResult:
        await store.start()
        try:
            relay.cut()
            with pytest.raises(Unavailable):
                await store.record(decided_by("a", 0), time.monotonic() + 1.0)
            relay.restore()
            await asyncio.wait_for(store.recovered(), 30)
        finally:
            await store.close()
        async with aws.with_settings(writer_id="local-2").running() as other:
            return await other.record(decided_by("b", 0))

    try:
        written = asyncio.run(scenario())
    finally:
        relay.cut()
    assert not written.duplicate and written.decided is None
    assert logged_events(aws) == Counter({"ev-login-0": 1})
