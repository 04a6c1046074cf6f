"""Raw, bit-flipped and truncated requests to real servers (router, audit, one agent): only
OK, INVALID_ARGUMENT or RESOURCE_EXHAUSTED come back (or, from the review RPCs, the answer that
the decision is unknown or reviewed already), a bad item of a ScoreStream fails alone, and
every service stays SERVING."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aegis.v1 import agent_pb2, audit_pb2, common_pb2, router_pb2
from aegis_domain.convert import seconds_to_timestamp
from tests.service.mesh import entry, start_mesh
from tests.service.test_router import FixedAgent, event
from tests.unit.audit_builders import T0, make_record

# A fixed seed: CI sends the same requests on every run, and a failure names the one it was.
SEED = 14
PER_KIND = 20
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
           grpc.StatusCode.RESOURCE_EXHAUSTED}


def _score(n: int) -> bytes:
    return router_pb2.ScoreRequest(event=event(n, user=f"fuzz-{n}")).SerializeToString()


def _record(n: int) -> bytes:
    return audit_pb2.RecordRequest(record=make_record(f"fuzz-{n}")).SerializeToString()


def _contexts(n: int) -> bytes:
    return audit_pb2.GetContextBatchRequest(items=[
        audit_pb2.GetContextRequest(user_id=f"fuzz-{n}", ip="192.0.2.1",
                                    as_of=seconds_to_timestamp(T0), event_id=f"ev-{n}")
        for _ in range(2)
    ]).SerializeToString()


def _assess(n: int) -> bytes:
    return agent_pb2.AssessBatchRequest(items=[
        agent_pb2.AssessRequest(event=event(n, user=f"fuzz-{n}"))
    ]).SerializeToString()


def _record_batch(n: int) -> bytes:
    return audit_pb2.RecordBatchRequest(items=[
        audit_pb2.RecordRequest(record=make_record(f"fuzz-b{n}"))
    ]).SerializeToString()


# Escalated decisions recorded before the fuzzing: what the valid review requests name.
ESCALATED = 8


def _escalated(n: int) -> str:
    return f"fuzz-esc-{n % ESCALATED}"


def _list_reviews(n: int) -> bytes:
    return audit_pb2.ListReviewsRequest(
        state=audit_pb2.REVIEW_STATE_PENDING, page_size=1 + n % 20
    ).SerializeToString()


def _get_review(n: int) -> bytes:
    return audit_pb2.GetReviewRequest(decision_id=_escalated(n)).SerializeToString()


def _decide_review(n: int) -> bytes:
    return audit_pb2.DecideReviewRequest(
        decision_id=_escalated(n), outcome=common_pb2.REVIEW_OUTCOME_APPROVE,
        reviewer="fuzz", reason="the customer confirmed the login", review_id=f"fuzz-r{n}",
    ).SerializeToString()


def _stream_item(n: int) -> bytes:
    return router_pb2.ScoreStreamRequest(
        client_ref=f"fuzz-{n}", event=event(n, user=f"fuzz-{n}")
    ).SerializeToString()


# Method -> (the server it goes to, a valid request; each call's own ids, so that no two
# mutants share an event id and a valid mutant is never a conflicting repeat).
TARGETS: dict[str, tuple[str, Callable[[int], bytes]]] = {
    "/aegis.v1.RouterService/Score": ("router", _score),
    "/aegis.v1.AuditService/RecordBatch": ("audit", _record_batch),
    "/aegis.v1.AuditService/Record": ("audit", _record),
    "/aegis.v1.AuditService/GetContextBatch": ("audit", _contexts),
    "/aegis.v1.AgentService/AssessBatch": ("agent", _assess),
    "/aegis.v1.AuditService/ListReviews": ("audit", _list_reviews),
    "/aegis.v1.AuditService/GetReview": ("audit", _get_review),
    "/aegis.v1.AuditService/DecideReview": ("audit", _decide_review),
}
# Answers about what a well-formed request names, not failures: a mutated id names no
# decision, or the decision was reviewed by an earlier mutant.
ANSWERS = {
    "/aegis.v1.AuditService/GetReview": {grpc.StatusCode.NOT_FOUND},
    "/aegis.v1.AuditService/DecideReview": {grpc.StatusCode.NOT_FOUND,
                                            grpc.StatusCode.FAILED_PRECONDITION},
}
SCORE_STREAM = "/aegis.v1.RouterService/ScoreStream"


def mutants(rng: random.Random, valid: Callable[[int], bytes]) -> list[bytes]:
    """Random bytes, bit flips and truncations of valid requests."""
    found = [rng.randbytes(rng.randrange(0, 300)) for _ in range(PER_KIND)]
    for _ in range(PER_KIND):
        flipped = bytearray(valid(rng.randrange(10**9)))
        for _flip in range(rng.randrange(1, 6)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        found.append(bytes(flipped))
        whole = valid(rng.randrange(10**9))
        found.append(whole[: rng.randrange(len(whole))])
    return found


def test_mutated_requests_get_only_ok_invalid_argument_or_resource_exhausted(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)

    async def scenario() -> tuple[dict[str, set[grpc.StatusCode]], dict[str, int]]:
        mesh = await start_mesh(tmp_path, {"geo": (entry("geo"), FixedAgent("geo", 0.1))})
        try:
            ports = {"router": mesh.router.port, "audit": mesh.audit.port,
                     "agent": mesh.agents["geo"].port}
            channels = {}
            for name, port in ports.items():
                channels[name] = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
                mesh.channels.append(channels[name])
            record = channels["audit"].unary_unary("/aegis.v1.AuditService/Record")
            for n in range(ESCALATED):
                await record(audit_pb2.RecordRequest(record=make_record(
                    _escalated(n), action=common_pb2.ACTION_ESCALATE
                )).SerializeToString(), timeout=10)
            seen: dict[str, set[grpc.StatusCode]] = {}
            for method, (server, valid) in TARGETS.items():
                call = channels[server].unary_unary(method)
                for request in mutants(rng, valid):
                    try:
                        await call(request, timeout=10)
                        code = grpc.StatusCode.OK
                    except grpc.aio.AioRpcError as error:
                        code = error.code()
                    seen.setdefault(method, set()).add(code)
            seen |= await _fuzz_score_stream(channels["router"], rng)
            health = {
                name: (await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )).status
                for name, channel in channels.items()
            }
            return seen, health
        finally:
            await mesh.close()

    seen, health = asyncio.run(scenario())
    assert {m: bad for m, codes in seen.items()
            if (bad := codes - ALLOWED - ANSWERS.get(m, set()))} == {}
    assert set(health.values()) == {health_pb2.HealthCheckResponse.SERVING}
    # The mutants reached past decoding: some were refused for a field, some went through.
    assert all(grpc.StatusCode.INVALID_ARGUMENT in seen[m] for m in TARGETS)
    assert grpc.StatusCode.OK in seen["/aegis.v1.RouterService/Score"]
    assert {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT} <= seen[f"{SCORE_STREAM} items"]


async def _fuzz_score_stream(
    router: grpc.aio.Channel, rng: random.Random
) -> dict[str, set[grpc.StatusCode]]:
    """One stream per mutant that decodes, between two valid items: the codes the streams
    ended with, and those of their items (ScoreError's, OK for a decision). Each fails alone:
    the stream ends OK with both valid items decided. An undecodable item ends its stream
    INVALID_ARGUMENT (checked first)."""
    call = router.stream_stream(SCORE_STREAM)
    ended: set[grpc.StatusCode] = set()
    items: set[grpc.StatusCode] = set()
    # An item that cannot be decoded breaks the stream itself: it ends INVALID_ARGUMENT
    # (naming the request), never INTERNAL, never hanging to its deadline.
    broken = [m for m in mutants(rng, _stream_item) if not _decodes(m)][:20]
    assert broken
    for mutant in broken:
        first = _stream_item(rng.randrange(10**9))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in call(iter((first, mutant)), timeout=10):
                pass
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, mutant
    for mutant in filter(_decodes, mutants(rng, _stream_item)):
        first, last = (_stream_item(rng.randrange(10**9)) for _ in range(2))
        refs = {router_pb2.ScoreStreamRequest.FromString(v).client_ref for v in (first, last)}
        decided = set()
        code = grpc.StatusCode.OK
        try:
            async for raw in call(iter((first, mutant, last)), timeout=10):
                reply = router_pb2.ScoreStreamResponse.FromString(raw)
                if reply.HasField("error"):
                    items.add(_CODES[reply.error.code])
                elif reply.HasField("decision"):
                    items.add(grpc.StatusCode.OK)
                    decided.add(reply.client_ref)
        except grpc.aio.AioRpcError as error:
            code = error.code()
        ended.add(code)
        assert (code, refs <= decided) == (grpc.StatusCode.OK, True), (mutant, decided)
    return {SCORE_STREAM: ended, f"{SCORE_STREAM} items": items}


def _decodes(raw: bytes) -> bool:
    try:
        router_pb2.ScoreStreamRequest.FromString(raw)
    except DecodeError:
        return False
    return True


_CODES = {code.value[0]: code for code in grpc.StatusCode}
