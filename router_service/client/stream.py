"""Streams input rows through RouterService.ScoreStream with a bounded number in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from aegis.v1 import common_pb2 as pb
from aegis.v1 import router_pb2, router_pb2_grpc
from router_service.client.rows import BadRow, Labels, ParsedRow, Problem, Row
from router_service.client.summary import MALFORMED, ReplaySummary, action_name, code_name

# A reply the router owed but never sent (it closed the stream with requests outstanding).
NO_REPLY = "NO_REPLY"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one input row: a decision, or why there is none."""

    line: int
    row: int
    event_id: str = ""
    labels: Labels | None = None
    decision: pb.Decision | None = None
    error_code: str = ""
    error_message: str = ""
    error_field: str = ""
    problems: tuple[Problem, ...] = ()

    @classmethod
    def malformed(cls, row: BadRow) -> Outcome:
        """A row the reader refused: never sent."""
        return cls(
            row.line, row.row, error_code=MALFORMED, error_message=str(row), problems=row.problems
        )

    def to_json(self) -> dict[str, Any]:
        """One line of `aegis replay --out`."""
        obj: dict[str, Any] = {"line": self.line, "row": self.row, "event_id": self.event_id}
        if self.labels is not None:
            obj["labels"] = self.labels.to_json()
        if self.decision is not None:
            obj |= {
                "decision_id": self.decision.decision_id,
                "action": action_name(self.decision.action),
                "risk": self.decision.risk,
                "confidence": self.decision.confidence,
            }
        else:
            error: dict[str, Any] = {"code": self.error_code, "message": self.error_message}
            if self.error_field:
                error["field"] = self.error_field
            if self.problems:
                error["problems"] = [{"column": p.column, "message": p.message}
                                     for p in self.problems]
            obj["error"] = error
        return obj


class StreamBroken(Exception):
    """The stream as a whole failed; rows not yet answered have no decision."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


async def replay(
    stub: router_pb2_grpc.RouterServiceStub,
    rows: Iterable[Row],
    summary: ReplaySummary,
    on_outcome: Callable[[Outcome], None],
    *,
    max_in_flight: int = 8,
    idle_timeout_s: float = 30.0,
) -> None:
    """Score every ParsedRow of `rows` (client_ref = its line number); report every row,
    bad ones included, through `on_outcome` and `summary`.

    At most `max_in_flight` requests await their reply, so a large file neither floods the
    router nor fills memory. Raises StreamBroken when the stream fails or the router stays
    silent for `idle_timeout_s` while requests are outstanding. When reading `rows` fails
    part-way, the requests already sent are still answered, then that error is raised.
    """
    started = time.monotonic()
    call = stub.ScoreStream()
    slots = asyncio.Semaphore(max_in_flight)
    pending: dict[str, ParsedRow] = {}

    input_failure: list[Exception] = []

    async def send_all() -> None:
        source = iter(rows)
        while True:
            try:
                row = next(source)
            except StopIteration:
                break
            except Exception as exc:
                # The input failed part-way: what was sent is still answered, then reported.
                input_failure.append(exc)
                break
            if isinstance(row, BadRow):
                summary.rows += 1
                summary.add_error(MALFORMED)
                on_outcome(Outcome.malformed(row))
                continue
            await slots.acquire()
            # Counted once sent: a row read while the stream broke is not reported on.
            summary.rows += 1
            ref = str(row.line)
            pending[ref] = row
            await call.write(router_pb2.ScoreStreamRequest(client_ref=ref, event=row.event))
        await call.done_writing()

    def settle(reply: router_pb2.ScoreStreamResponse) -> None:
        row = pending.pop(reply.client_ref, None)
        if row is None:
            raise StreamBroken(
                "PROTOCOL", f"the router replied to client_ref {reply.client_ref!r}, not sent"
            )
        slots.release()
        if reply.HasField("decision"):
            summary.add_decision(reply.decision, row.labels)
            on_outcome(Outcome(row.line, row.row, row.event.event_id, row.labels, reply.decision))
        else:
            code = code_name(reply.error.code)
            summary.add_error(code)
            on_outcome(_failed(row, code, reply.error.message, reply.error.field))

    def fail_pending(code: str, message: str) -> None:
        for row in pending.values():
            summary.add_error(code)
            on_outcome(_failed(row, code, message))
        pending.clear()

    sender = asyncio.create_task(send_all())
    reading: asyncio.Future[Any] | None = None
    try:
        while True:
            if sender.done():
                _raise_unless_call_ended(sender)
            if reading is None:
                reading = asyncio.ensure_future(call.read())
            waiting: set[asyncio.Future[Any]] = {reading}
            if not sender.done():
                waiting.add(sender)
            # The same read is awaited again after a timeout: cancelling it would cancel
            # the whole call.
            done, _ = await asyncio.wait(
                waiting, timeout=idle_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if reading in done:
                try:
                    reply = reading.result()
                except grpc.aio.AioRpcError as exc:
                    fail_pending(exc.code().name, exc.details() or "")
                    raise StreamBroken(exc.code().name, exc.details() or "") from None
                reading = None
                if reply is grpc.aio.EOF:
                    break
                settle(reply)
            elif not done and pending:
                message = f"no reply for {idle_timeout_s:g} s with {len(pending)} requests waiting"
                fail_pending("DEADLINE_EXCEEDED", message)
                raise StreamBroken("DEADLINE_EXCEEDED", message)
        if not sender.done() or sender.exception() is not None:
            raise StreamBroken("PROTOCOL", "the router ended the stream before every request")
        if pending:
            fail_pending(NO_REPLY, "the router ended the stream without replying")
        if input_failure:
            raise input_failure[0]
    finally:
        summary.elapsed_s = time.monotonic() - started
        sender.cancel()
        if reading is not None:
            reading.cancel()
        call.cancel()


def _raise_unless_call_ended(sender: asyncio.Task[None]) -> None:
    """Re-raise what stopped the sender, except a write that failed because the call had
    ended: the call's status comes with the next read."""
    error = sender.exception()
    if error is not None and not isinstance(
        error, grpc.aio.AioRpcError | asyncio.InvalidStateError
    ):
        raise error


def _failed(row: ParsedRow, code: str, message: str, field: str = "") -> Outcome:
    return Outcome(
        row.line, row.row, row.event.event_id, row.labels,
        error_code=code, error_message=message, error_field=field,
    )
