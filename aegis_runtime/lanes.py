"""The server side of lanes: batch calls carried on one long-lived stream.

A unary call costs about 0.6 ms of CPU at its two ends in grpc.aio (call set-up, metadata, a
task and the interceptors at each end); a message on an open stream costs its server a
quarter to a half less (see "Lanes" in docs/benchmarks.md). So the router sends each
service's batches on one stream, a lane: each message is one batch with its own id, time
limit and trace context, and the server answers each by id as soon as it is done, so batches
overlap as concurrent unary calls would. The interceptors (access log, authorisation) run
once per stream, not once per batch.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from google.protobuf.message import Message

from aegis.v1 import common_pb2
from aegis_runtime.errors import ServiceError, error_fields
from aegis_runtime.grpc_metrics import lane_batch
from aegis_runtime.logging import request_id_var
from aegis_runtime.telemetry import REQUEST_ID_HEADER, server_span

log = logging.getLogger(__name__)

# Initial metadata that a lane's server sends as its stream opens: its client then knows that
# the server reads the stream (router_service.lane).
LANE_HEADER = "aegis-lane"
# Call metadata naming the agent a call is for, at an agent host (several agents, one address).
AGENT_HEADER = "aegis-agent"

# A batch request and its deadline (time.monotonic(), None: none) -> the batch's reply: what
# the unary batch method does, without its call.
BatchHandler = Callable[[Any, float | None], Awaitable[Message]]
# A message read from a stream -> the batch calls it carries: (StreamBatchHeader, batch
# request, its handler) each.
Unpack = Callable[[Any], Iterable[tuple[Any, Any, BatchHandler]]]
# The answers ready at once -> the one message that carries them.
Pack = Callable[[list[Message]], Message]


class Lanes:
    """The lanes a servicer has open: told when the server drains, each asks its client to
    send no more batches on it, so that the drain waits for the batches sent, not for the
    client to hang up."""

    def __init__(self) -> None:
        self._open: set[asyncio.Queue[Message | None]] = set()
        self._closing = False

    def drain(self) -> None:
        self._closing = True
        for replies in self._open:
            replies.put_nowait(None)

    async def serve(
        self, path: str, requests: AsyncIterator[Any], handle: BatchHandler,
        response_type: type[Message],
    ) -> AsyncIterator[Message]:
        """Answers each batch of `requests` (messages with a `header` and a `batch`) with a
        `response_type` (a `status` and a `batch`), concurrently, in the order they finish."""
        async for reply in self.serve_calls(
            path, requests, lambda request: ((request.header, request.batch, handle),),
            response_type,
        ):
            yield reply

    async def serve_calls(
        self, path: str, requests: AsyncIterator[Any], calls: Unpack,
        response_type: type[Message], pack: Pack | None = None,
    ) -> AsyncIterator[Message]:
        """Answers each batch call that `calls` finds in a message of `requests` with a
        `response_type` (a `status` and a `batch`), concurrently, as each finishes; with
        `pack`, the answers ready at once travel in one message that `pack` makes of them
        (a message with a `status`, for closing)."""
        replies: asyncio.Queue[Message | None] = asyncio.Queue()
        reader = asyncio.create_task(_read(path, requests, calls, response_type, replies))
        self._open.add(replies)
        if self._closing:
            replies.put_nowait(None)
        try:
            while True:
                reply = await replies.get()
                if reply is not None and pack is not None:
                    ready = [reply]
                    while not replies.empty() and (reply := replies.get_nowait()) is not None:
                        ready.append(reply)
                    yield pack(ready)
                    if reply is not None:
                        continue
                if reply is None:
                    if reader.done():
                        break
                    # Draining: the client sends no more, then half-closes once answered.
                    closing: Any = response_type() if pack is None else pack([])
                    closing.status.closing = True
                    yield closing
                    continue
                yield reply
        finally:
            self._open.discard(replies)
            reader.cancel()


async def _read(
    path: str, requests: AsyncIterator[Any], calls: Unpack,
    response_type: type[Message], replies: asyncio.Queue[Message | None],
) -> None:
    """Starts each batch as it arrives; once the client has half-closed and every batch is
    answered, ends the stream (a None after the reader is done)."""
    answering: set[asyncio.Task[None]] = set()
    try:
        async for request in requests:
            for header, batch, handle in calls(request):
                # The batch's time counts from when it is read, as a call's deadline would.
                timeout_ms = header.timeout_ms
                deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms else None
                task = asyncio.create_task(
                    _answer(path, header, batch, deadline, handle, response_type, replies)
                )
                answering.add(task)
                task.add_done_callback(answering.discard)
        if answering:
            await asyncio.wait(answering)
    finally:
        for task in answering:
            task.cancel()
        replies.put_nowait(None)


async def _answer(
    path: str, header: Any, batch: Any, deadline: float | None, handle: BatchHandler,
    response_type: type[Message], replies: asyncio.Queue[Message | None],
) -> None:
    reply: Any = response_type()
    reply.status.id = header.id
    # Each batch runs in a task of its own, so its request id and span are its own.
    if request_id := header.metadata.get(REQUEST_ID_HEADER):
        request_id_var.set(request_id)
    try:
        # A batch past its time is dropped, as gRPC cancels a call past its deadline: an
        # overloaded service must not spend itself on answers no one waits for any more.
        async with asyncio.timeout_at(None if deadline is None else _loop_time(deadline)):
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError
            with server_span(path, header.metadata), lane_batch(path):
                reply.batch.CopyFrom(await handle(batch, deadline))
    except TimeoutError:
        reply.status.error.CopyFrom(common_pb2.ItemError(
            code=grpc.StatusCode.DEADLINE_EXCEEDED.value[0], message="the batch's time ran out"
        ))
    except ServiceError as exc:
        # What the unary call would have ended with (errors.grpc_errors).
        reply.status.error.CopyFrom(common_pb2.ItemError(**error_fields(exc)))
    except Exception as exc:
        log.exception("batch failed", extra={"method": path})
        reply.status.error.CopyFrom(common_pb2.ItemError(
            code=grpc.StatusCode.INTERNAL.value[0], message=type(exc).__name__
        ))
    replies.put_nowait(reply)


def lane_method(
    path: str, handle: Callable[[Any, Any, float | None], Awaitable[Message]],
    response_type: type[Message],
) -> Callable[[Any, AsyncIterator[Any], grpc.aio.ServicerContext], AsyncIterator[Message]]:
    """A servicer's stream method (AssessStream, RecordStream, ...) for the calls of the batch
    method `path`, each answered by `handle(servicer, batch, deadline)` (the servicer's own
    BatchHandler, unbound). The servicer keeps its Lanes as `self.lanes`:

        AssessStream = lane_method(ASSESS_BATCH, _assess_batch_reply, AssessStreamResponse)
    """

    async def stream(
        servicer: Any, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[Message]:
        await context.send_initial_metadata(((LANE_HEADER, "1"),))
        async for reply in servicer.lanes.serve(
            path, requests, functools.partial(handle, servicer), response_type
        ):
            yield reply

    return stream


def _loop_time(monotonic: float) -> float:
    """A time.monotonic() instant on the event loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic - time.monotonic())
