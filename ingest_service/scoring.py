"""One input record -> its outcome: a decision to publish, a dead letter, or "try again"."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from aegis.v1 import common_pb2, router_pb2, router_pb2_grpc
from ingest_service.records import PoisonRecord, parse_login

# The router's answers that no retry can change: the record goes to the dead letters.
# (ALREADY_EXISTS: the event id was decided with other content.)
_FINAL = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS})
# What a dead letter's reason is, in a word (a metric's attribute): a record that is no
# LoginEvent, or the router's refusal.
UNPARSEABLE = "unparseable"
DEAD_LETTER_KINDS = (UNPARSEABLE, *sorted(code.name for code in _FINAL))


@dataclass(frozen=True, slots=True)
class Scored:
    """The record's decision, audited by the router before it answered."""

    decision: common_pb2.Decision
    user_id: str
    repeat: bool


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    kind: str


@dataclass(frozen=True, slots=True)
class Retry:
    """The router could not answer now (down, overloaded, deadline): the record is read
    again later, from the shard's checkpoint."""

    reason: str


Outcome = Scored | DeadLetter | Retry


async def score_record(router: router_pb2_grpc.RouterServiceStub, data: bytes,
                       timeout_s: float) -> Outcome:
    """Parse and Score one record. A record scored before (a redelivery, a restart past the
    checkpoint) gets its recorded decision back from the router: exactly one per event id."""
    try:
        event = parse_login(data)
    except PoisonRecord as exc:
        return DeadLetter(str(exc), UNPARSEABLE)
    try:
        reply = await router.Score(router_pb2.ScoreRequest(event=event), timeout=timeout_s)
    except grpc.aio.AioRpcError as exc:
        why = f"router: {exc.code().name}: {exc.details()}"
        return DeadLetter(why, exc.code().name) if exc.code() in _FINAL else Retry(why)
    return Scored(reply.decision, event.user_id, reply.repeat)
