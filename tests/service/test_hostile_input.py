"""Hostile input through real servers: a bad item fails alone, bad input is INVALID_ARGUMENT
with the field named, and a store that cannot write says NOT_SERVING."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aegis.v1 import agent_pb2, agent_pb2_grpc, audit_pb2, router_pb2, router_pb2_grpc
from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import seconds_to_timestamp
from aegis_domain.validation import MAX_ID_LENGTH, MAX_TEXT_LENGTH, MAX_USER_AGENT_LENGTH
from aegis_runtime.server import RunningServer
from agent_services.host import AgentComponent
from audit_service.validation import MAX_RECORD_BYTES
from router_service.batching import MAX_MESSAGE_BYTES
from router_service.scoring import Scorer
from tests.service.mesh import entry, local, start_mesh
from tests.service.rpc_status import bad_request_fields
from tests.service.test_audit_service import Stub, run
from tests.service.test_router import FixedAgent, event
from tests.unit.audit_builders import T0, make_record

# Field 1000 of a message, length-delimited, 3 bytes: a field no build of ours knows.
UNKNOWN_FIELD = b"\xc2\x3e\x03abc"
_CODE = {code.value[0]: code for code in grpc.StatusCode}


def test_a_bad_record_fails_alone_in_its_batch(tmp_path: Path) -> None:
    bad = make_record("d-2")
    bad.event.timestamp.nanos = -1  # the log's JSON mapping cannot print it

    async def scenario(stub: Stub) -> audit_pb2.RecordBatchResponse:
        return await stub.RecordBatch(audit_pb2.RecordBatchRequest(items=[
            audit_pb2.RecordRequest(record=record)
            for record in (make_record("d-1"), bad, make_record("d-3"))
        ]), timeout=5)

    first, refused, third = run(tmp_path, scenario).results
    assert first.HasField("recorded") and third.HasField("recorded")
    assert _CODE[refused.error.code] == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.error.field == "record.event.timestamp"


def test_a_bad_context_request_fails_alone_in_its_batch(tmp_path: Path) -> None:
    async def scenario(stub: Stub) -> audit_pb2.GetContextBatchResponse:
        return await stub.GetContextBatch(audit_pb2.GetContextBatchRequest(items=[
            audit_pb2.GetContextRequest(user_id="u", as_of=seconds_to_timestamp(T0)),
            audit_pb2.GetContextRequest(user_id="v"),
            audit_pb2.GetContextRequest(user_id="w", ip="fe80::1%eth0",
                                        as_of=seconds_to_timestamp(T0)),
            audit_pb2.GetContextRequest(user_id="x", as_of=seconds_to_timestamp(T0)),
        ]), timeout=5)

    served, missing, zoned, also_served = run(tmp_path, scenario).items
    assert served.HasField("context") and also_served.HasField("context")
    assert (missing.error.field, zoned.error.field) == ("items[1].as_of", "items[2].ip")


def test_unknown_fields_never_reach_storage(tmp_path: Path) -> None:
    record = make_record("d-1")
    request = audit_pb2.RecordRequest(record=record)
    inflated = audit_pb2.RecordRequest.FromString(request.SerializeToString())
    inflated.record.event.MergeFromString(UNKNOWN_FIELD)
    assert inflated.ByteSize() > request.ByteSize()

    async def scenario(stub: Stub) -> audit_pb2.GetDecisionResponse:
        await stub.Record(inflated, timeout=5)
        return await stub.GetDecision(audit_pb2.GetDecisionRequest(decision_id="d-1"), timeout=5)

    stored = run(tmp_path, scenario).record
    assert stored.SerializeToString() == record.SerializeToString()


def test_an_oversized_record_is_refused_naming_the_record(tmp_path: Path) -> None:
    record = make_record("d-1")
    record.decision.reasons.add(code="X", message="x" * MAX_RECORD_BYTES)

    async def scenario(stub: Stub) -> object:
        return await stub.Record(audit_pb2.RecordRequest(record=record), timeout=5)

    try:
        run(tmp_path, scenario)
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_request_fields(error) == ["record"]
    else:
        raise AssertionError("an oversized record was accepted")


def test_a_store_that_cannot_write_says_not_serving(tmp_path: Path) -> None:
    async def scenario() -> tuple[grpc.StatusCode, int]:
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), FixedAgent("geo", 0.1))})
        try:
            store = mesh.audit.component.store  # type: ignore[attr-defined]

            def broken_disk(pending: object) -> object:
                raise OSError(28, "No space left on device")

            store._committer._commit = broken_disk
            try:
                await mesh.audit_stub().Record(
                    audit_pb2.RecordRequest(record=make_record("d-1")), timeout=5
                )
            except grpc.aio.AioRpcError as error:
                code = error.code()
            health = health_pb2_grpc.HealthStub(mesh.channels[-1])
            async for reply in health.Watch(health_pb2.HealthCheckRequest(), timeout=5):
                if reply.status != health_pb2.HealthCheckResponse.SERVING:
                    return code, reply.status
            raise AssertionError("the health watch ended")
        finally:
            await mesh.close()

    code, status = asyncio.run(scenario())
    assert code == grpc.StatusCode.UNAVAILABLE
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING


def _assess(device_type: int) -> agent_pb2.AssessRequest:
    login = event()
    login.device_type = device_type
    return agent_pb2.AssessRequest(event=login)


def test_an_agent_refuses_an_unknown_enum_alone(tmp_path: Path) -> None:
    async def scenario() -> tuple[agent_pb2.AssessBatchResponse, grpc.aio.AioRpcError]:
        server = RunningServer(AgentComponent(FixedAgent("geo", 0.2)), local())
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = agent_pb2_grpc.AgentServiceStub(channel)
                batch = await stub.AssessBatch(agent_pb2.AssessBatchRequest(
                    items=[_assess(pb.DEVICE_TYPE_MOBILE), _assess(42)]
                ), timeout=5)
                try:
                    await stub.Assess(_assess(42), timeout=5)
                except grpc.aio.AioRpcError as error:
                    return batch, error
                raise AssertionError("an unknown enum was assessed")
        finally:
            await server.stop(0.5)

    batch, error = asyncio.run(scenario())
    good, bad = batch.signals
    assert good.status == pb.SIGNAL_STATUS_OK
    assert bad.status == pb.SIGNAL_STATUS_ERROR and "event.device_type" in bad.detail
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(error) == ["event.device_type"]


def test_undecodable_bytes_are_invalid_argument_and_a_failing_stream_item_fails_alone(
    tmp_path: Path, monkeypatch
) -> None:
    real_score = Scorer.score

    async def score(self, request_event, *args, **kwargs):
        if request_event.event_id == "ev-alice-2":
            raise RuntimeError("a bug this login trips")
        return await real_score(self, request_event, *args, **kwargs)

    monkeypatch.setattr(Scorer, "score", score)

    async def scenario():
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), FixedAgent("geo", 0.1))})
        try:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{mesh.router.port}")
            mesh.channels.append(channel)
            raw = channel.unary_unary("/aegis.v1.RouterService/Score")
            try:
                await raw(b"\xff\xff\xff", timeout=5)
            except grpc.aio.AioRpcError as error:
                undecodable = error
            stream = router_pb2_grpc.RouterServiceStub(channel).ScoreStream(iter([
                router_pb2.ScoreStreamRequest(client_ref=str(n), event=event(n, when=T0 + n))
                for n in (1, 2, 3)
            ]), timeout=20)
            replies = {reply.client_ref: reply async for reply in stream if reply.client_ref}
            return undecodable, replies
        finally:
            await mesh.close()

    undecodable, replies = asyncio.run(scenario())
    assert undecodable.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(undecodable) == ["request"]
    assert sorted(replies) == ["1", "2", "3"]
    assert _CODE[replies["2"].error.code] == grpc.StatusCode.INTERNAL
    assert replies["1"].HasField("decision") and replies["3"].HasField("decision")


def _inflated(n: int) -> pb.DecisionRecord:
    """A login of user `big` with every text field at its bound."""
    record = make_record(f"big-{n}", user_id="big", ts=T0 - 1000 + n)
    event = record.event
    event.user_agent = "u" * MAX_USER_AGENT_LENGTH
    for name in ("region", "city", "browser", "os"):
        setattr(event, name, "t" * MAX_TEXT_LENGTH)
    event.session_id = event.device_id = "i" * MAX_ID_LENGTH
    return record


def test_a_user_with_the_largest_history_cannot_fail_a_context_batch(tmp_path: Path) -> None:
    async def scenario(stub: Stub) -> audit_pb2.GetContextBatchResponse:
        await stub.RecordBatch(audit_pb2.RecordBatchRequest(items=[
            audit_pb2.RecordRequest(record=_inflated(n)) for n in range(50)
        ]), timeout=30)
        # The router's batch: another user's Score beside 63 of this user's.
        return await stub.GetContextBatch(audit_pb2.GetContextBatchRequest(items=[
            audit_pb2.GetContextRequest(user_id="big" if n else "other",
                                        as_of=seconds_to_timestamp(T0))
            for n in range(64)
        ]), timeout=30)

    reply = run(tmp_path, scenario)
    assert reply.ByteSize() > MAX_MESSAGE_BYTES
    assert [len(item.context.past_logins.timestamp) for item in reply.items] == [0] + [50] * 63
