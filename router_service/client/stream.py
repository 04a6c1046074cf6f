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


# A stream ended with these is resumed on a new one: the router closed the connection (its
# max connection age, a restart, a rolling deploy) or went away for a while. A stream cut at
# the end of a max-age grace is reset by HTTP/2 RST_STREAM, which gRPC reports as INTERNAL.
# Resuming is safe whatever the cause (a resent row gets its recorded decision), and a
# stream that keeps failing without a reply ends the replay after the idle timeout.
_RESUMABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL}
)
# Requests awaiting their reply by default: as many as the router scores of one stream at once
# (AEGIS_ROUTER_REPLAY_CONCURRENCY). A replay is bulk work: the mesh decides it fastest in full
# batches, and the logins of one user wait for each other, so a window of a few requests left
# most of the mesh idle (8 in flight: ~75 rows/s on a realistic file; 128: ~240 rows/s). 256
# fills the batches further (about a sixth less CPU per row than 128) and stays far from the
# bulk deadlines: a row's budget starts once its user's previous row is decided.
DEFAULT_MAX_IN_FLIGHT = 256
# Requests packed in one message at most (ScoreStreamRequest.items): a message costs each end
# about as much CPU as the router's own work on a login, so packing divides that. The rows
# that fit the window go together; replies come packed as the mesh's batches finish, which
# frees slots together, so messages stay full under load. 1: one request a message, for a
# router older than packing.
DEFAULT_PER_MESSAGE = 32
# Pause before reopening a stream, doubled while no reply comes, up to the last.
_REOPEN_PAUSES_S = (0.05, 0.1, 0.2, 0.5, 1.0)


async def replay(
    stub: router_pb2_grpc.RouterServiceStub,
    rows: Iterable[Row],
    summary: ReplaySummary,
    on_outcome: Callable[[Outcome], None],
    *,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    idle_timeout_s: float = 30.0,
    per_message: int = DEFAULT_PER_MESSAGE,
) -> None:
    """Score every ParsedRow of `rows` (client_ref = its line number); report every row,
    bad ones included, through `on_outcome` and `summary`.

    At most `max_in_flight` requests await their reply, so a large file neither floods the
    router nor fills memory; up to `per_message` of them travel in one message. When the
    router asks to close the stream (it does after a while, so that no connection's max-age
    cut falls mid-row), ends it, or the stream breaks
    (UNAVAILABLE, ABORTED, INTERNAL), a new stream resumes from the first row not answered:
    rows sent but not answered are sent again, and the router answers those it had decided
    with the recorded decision (one decision per event id), so no row is decided twice.
    Raises StreamBroken
    when the stream fails otherwise, or no reply comes for `idle_timeout_s` while requests
    are outstanding (across reconnections). When reading `rows` fails part-way, the
    requests already sent are still answered, then that error is raised.
    """
    started = time.monotonic()
    stream = _Resumable(
        stub, rows, summary, on_outcome, max_in_flight, idle_timeout_s, per_message
    )
    try:
        while not await stream.run_once():
            await stream.pause()
        if stream.input_failure:
            raise stream.input_failure[0]
    finally:
        summary.elapsed_s = time.monotonic() - started


class _Resumable:
    """The state of one replay across its streams: the rows sent and not yet answered (in
    the order sent), and the rest of the input."""

    def __init__(
        self, stub: router_pb2_grpc.RouterServiceStub, rows: Iterable[Row],
        summary: ReplaySummary, on_outcome: Callable[[Outcome], None], max_in_flight: int,
        idle_timeout_s: float, per_message: int,
    ) -> None:
        if per_message < 1:
            raise ValueError("per_message must be at least 1")
        self.stub = stub
        self.source = iter(rows)
        self.summary = summary
        self.on_outcome = on_outcome
        self.max_in_flight = max_in_flight
        self.idle_timeout_s = idle_timeout_s
        self.per_message = per_message
        self.pending: dict[str, ParsedRow] = {}
        self.input_done = False
        self.input_failure: list[Exception] = []
        self.last_reply = time.monotonic()
        self.pauses = 0

    async def pause(self) -> None:
        """Before reopening: give up once the router has been silent too long."""
        silent_s = time.monotonic() - self.last_reply
        if silent_s > self.idle_timeout_s:
            message = f"no reply for {self.idle_timeout_s:g} s while reconnecting"
            self.fail_pending("UNAVAILABLE", message)
            raise StreamBroken("UNAVAILABLE", message)
        await asyncio.sleep(_REOPEN_PAUSES_S[min(self.pauses, len(_REOPEN_PAUSES_S) - 1)])
        self.pauses += 1

    def next_row(self) -> ParsedRow | None:
        """The next row to send; None at the end of the input (or where it failed)."""
        while not self.input_done:
            try:
                row = next(self.source)
            except StopIteration:
                self.input_done = True
            except Exception as exc:
                # The input failed part-way: what was sent is still answered, then reported.
                self.input_failure.append(exc)
                self.input_done = True
            else:
                # Counted once taken: a row taken is sent until answered.
                self.summary.rows += 1
                if not isinstance(row, BadRow):
                    return row
                self.summary.add_error(MALFORMED)
                self.on_outcome(Outcome.malformed(row))
        return None

    async def run_once(self) -> bool:
        """One stream: resend what is pending, then go on with the input. True when every
        row is answered; False when the stream ended early and may be resumed."""
        call = self.stub.ScoreStream(wait_for_ready=True)
        slots = asyncio.Semaphore(self.max_in_flight)
        # Set when the router asks to close the stream: send nothing more, half-close.
        closing = asyncio.Event()

        # What was sent and not answered goes first, then the rest of the input.
        resend = iter(list(self.pending.items()))

        def take(count: int) -> router_pb2.ScoreStreamRequest:
            """Up to `count` requests, packed in one message."""
            message = router_pb2.ScoreStreamRequest()
            while len(message.items) < count:
                if (sent := next(resend, None)) is not None:
                    ref, row = sent
                elif (new := self.next_row()) is not None:
                    # Pending at once: a row taken is never lost to a cut.
                    ref, row = str(new.line), new
                    self.pending[ref] = row
                else:
                    break
                message.items.add(client_ref=ref, event=row.event)
            return message

        async def send_all() -> None:
            while not closing.is_set():
                # The slots first: one to wait for, then those free at once, up to a message.
                await slots.acquire()
                free = 1
                while free < self.per_message and not slots.locked():
                    await slots.acquire()
                    free += 1
                if closing.is_set():
                    break
                message = take(free)
                if message.items:
                    await call.write(message if self.per_message > 1 else message.items[0])
                if len(message.items) < free:
                    break  # the input is done
            await call.done_writing()

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
                    waiting, timeout=self.idle_timeout_s, return_when=asyncio.FIRST_COMPLETED
                )
                if reading in done:
                    try:
                        reply = reading.result()
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() in _RESUMABLE:
                            return False
                        self.fail_pending(exc.code().name, exc.details() or "")
                        raise StreamBroken(exc.code().name, exc.details() or "") from None
                    reading = None
                    if reply is grpc.aio.EOF:
                        # Ended with rows left (the router asked to close): resumed anew.
                        return not self.pending and self.input_done
                    if reply.closing:
                        closing.set()
                        # Wakes a sender waiting for a slot.
                        slots.release()
                    else:
                        # Each reply frees a slot (a router packs them as they finish).
                        for answer in reply.items or (reply,):
                            self.settle(answer)
                            slots.release()
                elif not done and self.pending:
                    message = (f"no reply for {self.idle_timeout_s:g} s with "
                               f"{len(self.pending)} requests waiting")
                    self.fail_pending("DEADLINE_EXCEEDED", message)
                    raise StreamBroken("DEADLINE_EXCEEDED", message)
        finally:
            sender.cancel()
            if reading is not None:
                reading.cancel()
            call.cancel()

    def settle(self, reply: router_pb2.ScoreStreamResponse) -> None:
        row = self.pending.pop(reply.client_ref, None)
        if row is None:
            raise StreamBroken(
                "PROTOCOL", f"the router replied to client_ref {reply.client_ref!r}, not sent"
            )
        self.last_reply = time.monotonic()
        self.pauses = 0
        if reply.HasField("decision"):
            self.summary.add_decision(reply.decision, row.labels)
            self.on_outcome(
                Outcome(row.line, row.row, row.event.event_id, row.labels, reply.decision)
            )
        else:
            code = code_name(reply.error.code)
            self.summary.add_error(code)
            self.on_outcome(_failed(row, code, reply.error.message, reply.error.field))

    def fail_pending(self, code: str, message: str) -> None:
        for row in self.pending.values():
            self.summary.add_error(code)
            self.on_outcome(_failed(row, code, message))
        self.pending.clear()


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
