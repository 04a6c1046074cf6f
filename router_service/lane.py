"""The client side of lanes (aegis_runtime.lanes): a unary batch method whose calls travel as
messages on one long-lived stream.

A Lane is called like the unary method it replaces (request bytes, timeout, metadata) and
answers, or fails, as that call would: a batch refused whole raises grpc.aio.AioRpcError with
the refusal's code, one past its timeout DEADLINE_EXCEEDED, and when the stream breaks (the
service restarted) every batch in flight on it raises the stream's error (UNAVAILABLE), as
their calls would have; the next batch opens a new stream. A stream is replaced after
`max_age_s`, or when its server drains, so that batches follow the service's tasks as new
calls do under round_robin (one stream reaches one task).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import grpc
from google.protobuf.message import Message

from aegis.v1 import common_pb2
from aegis_runtime.lanes import LANE_HEADER
from router_service.wire import field, raw_request_method

_HEADER = 1
_BATCH = 2
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _failure(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def _time_out(future: asyncio.Future[Any], timeout_s: float) -> None:
    if not future.done():
        future.set_exception(_failure(
            grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer within {timeout_s * 1000:.0f} ms"
        ))


class Unread(Exception):
    """A batch whose stream ended before its server read anything: a service without the
    stream method (UNIMPLEMENTED; gRPC fails writes that race with that refusal, and the
    call with them, as INTERNAL), or one that went before it started. It goes again as a
    unary call, which answers as the method itself would: every lane's method may be
    repeated (Assess is pure, GetContext reads, Record is idempotent by decision id)."""

    def __init__(self, error: grpc.aio.AioRpcError) -> None:
        super().__init__(error.details())
        self.error = error


class LaneStream:
    """One stream of a lane: its batches awaiting answers, and the task that reads them."""

    def __init__(
        self, call: grpc.aio.StreamStreamCall, retire_at: float,
        answers: Callable[[Any], Iterable[Any]],
    ) -> None:
        self.call = call
        self.retire_at = retire_at
        # The answers a message from the server carries (each with a `status` and a
        # `batch`): a lane's one, an agent host's several (router_service.host_lane).
        self._answers = answers
        self.accepting = True
        # Whether the server has shown that it reads this stream (its headers, sent at once
        # by a lane's server, or an answer), and whether the stream has ended.
        self.opened = False
        self.ended = False
        self.pending: dict[int, asyncio.Future[Any]] = {}
        # grpc.aio takes one write at a time on a call.
        self.writing = asyncio.Lock()
        # What waits for the next write (router_service.host_lane gathers a turn's calls).
        self.queued: list[Any] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        error = _failure(grpc.StatusCode.UNAVAILABLE, "the stream ended")
        try:
            self.opened = LANE_HEADER in await self.call.initial_metadata()
            async for reply in self.call:
                self.opened = True
                if reply.status.closing:
                    await self.retire()
                    continue
                for answer in self._answers(reply):
                    future = self.pending.get(answer.status.id)
                    if future is not None and not future.done():
                        future.set_result(answer)
                    await self.settle(answer.status.id)
        except grpc.aio.AioRpcError as exc:
            error = exc
        finally:
            self.accepting = False
            self.ended = True
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(error)
            self.pending.clear()

    async def settle(self, batch_id: int) -> None:
        """Forget an answered (or abandoned) batch; a retired stream half-closes after its
        last."""
        if self.pending.pop(batch_id, None) is not None and not self.accepting \
                and not self.pending:
            await self._half_close()

    async def retire(self) -> None:
        """Send no more batches here; half-close once the ones sent are answered."""
        if self.accepting:
            self.accepting = False
            if not self.pending:
                await self._half_close()

    async def _half_close(self) -> None:
        # After the last write: an answer can come before its write has completed.
        async with self.writing:
            await self.call.done_writing()


class Lane:
    """Batches to the unary batch method `path` (answering `response_type`), sent on its
    stream method (stream_path) whose messages carry a StreamBatchHeader and the batch
    request, and answer a StreamBatchStatus and the batch's reply (`stream_response_type`).
    A service that has no stream method (one older than the router, mid-deployment) gets
    unary calls from then on."""

    def __init__(
        self, channel: grpc.aio.Channel, path: str, response_type: type[Message],
        stream_response_type: type[Message], max_age_s: float,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._slot = StreamSlot(functools.partial(channel.stream_stream(
            stream_path(path), request_serializer=None,
            response_deserializer=stream_response_type.FromString,
        ), metadata=metadata), max_age_s)
        self._unary = raw_request_method(channel, path, response_type)
        self._streams = True

    async def __call__(
        self, request: bytes, timeout: float, metadata: Sequence[tuple[str, str]],
    ) -> Any:
        """The batch's reply (the `batch` of the stream's answer)."""
        if self._streams:
            started = asyncio.get_running_loop().time()
            try:
                return await self._on_stream(request, timeout, metadata)
            except Unread as unread:
                if unread.error.code() == grpc.StatusCode.UNIMPLEMENTED:
                    self._streams = False
                timeout -= asyncio.get_running_loop().time() - started
                if timeout <= 0:
                    raise unread.error from None
        return await self._unary(request, timeout=timeout, metadata=metadata)

    async def _on_stream(
        self, request: bytes, timeout: float, metadata: Sequence[tuple[str, str]],
    ) -> Any:
        stream = await self._slot.current()
        header, batch_id = self._slot.header(timeout, metadata)

        async def send() -> None:
            async with stream.writing:
                await stream.call.write(field(_HEADER, header) + field(_BATCH, request))

        return await answer(stream, batch_id, timeout, send)


class StreamSlot:
    """The current stream of a lane (replaced after `max_age_s`, or once it stops accepting)
    and the ids of the batches sent on it."""

    def __init__(
        self, open_stream: Callable[[], grpc.aio.StreamStreamCall], max_age_s: float,
        answers: Callable[[Any], Iterable[Any]] = lambda reply: (reply,),
    ) -> None:
        self._open = open_stream
        self._max_age_s = max_age_s
        self._answers = answers
        self._ids = itertools.count(1)
        self._stream: LaneStream | None = None

    def header(
        self, timeout: float, metadata: Sequence[tuple[str, str]]
    ) -> tuple[bytes, int]:
        """A new batch's serialized StreamBatchHeader, and its id."""
        batch_id = next(self._ids)
        return common_pb2.StreamBatchHeader(
            id=batch_id, timeout_ms=max(1, math.ceil(timeout * 1000)), metadata=dict(metadata)
        ).SerializeToString(), batch_id

    async def current(self) -> LaneStream:
        stream = self._stream
        if stream is not None and stream.accepting:
            if asyncio.get_running_loop().time() < stream.retire_at:
                return stream
            await stream.retire()
        stream = self._stream = LaneStream(
            self._open(), asyncio.get_running_loop().time() + self._max_age_s, self._answers
        )
        return stream


async def answer(
    stream: LaneStream, batch_id: int, timeout: float, send: Callable[[], Awaitable[None]],
) -> Any:
    """The reply's `batch` to the batch `batch_id` that `send` writes on `stream`, or the
    error its unary call would have raised."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    stream.pending[batch_id] = future
    timer = asyncio.get_running_loop().call_later(timeout, _time_out, future, timeout)
    try:
        try:
            await send()
        except Exception:
            # The call has ended or is ending: no batch goes on it any more, and this
            # one's answer is how the stream ended, which its reader gives every batch
            # it leaves unanswered.
            stream.accepting = False
        reply = await future
    except grpc.aio.AioRpcError as exc:
        if stream.ended and not stream.opened:
            raise Unread(exc) from exc
        raise
    finally:
        timer.cancel()
        await stream.settle(batch_id)
    if reply.status.HasField("error"):
        error = reply.status.error
        raise _failure(_CODES.get(error.code, grpc.StatusCode.UNKNOWN), error.message)
    return reply.batch


def batch_method(
    channel: grpc.aio.Channel, path: str, response_type: type[Message],
    stream_response_type: type[Message], stream_max_age_s: float | None,
    stream_metadata: Sequence[tuple[str, str]] = (),
) -> Any:
    """The batch method at `path` called with its request serialized: on a lane (its stream
    method, `path` + "Stream" in place of "Batch", opened with `stream_metadata`) when
    `stream_max_age_s` is given, else one unary call per batch."""
    if stream_max_age_s is None:
        return raw_request_method(channel, path, response_type)
    return Lane(channel, path, response_type, stream_response_type, stream_max_age_s,
                stream_metadata)


def stream_path(path: str) -> str:
    """"/aegis.v1.AgentService/AssessBatch" -> "/aegis.v1.AgentService/AssessStream"."""
    return path.removesuffix("Batch") + "Stream"
