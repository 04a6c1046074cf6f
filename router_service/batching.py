"""Adaptive batching of concurrent requests toward one service.

A quiet system waits for nothing: a request that finds a free call slot goes out at once (at
the end of the event loop's turn, with the requests that turn queued), in a batch of one. Under
load every slot is busy, and the requests that arrive meanwhile wait for the next free slot,
then go out together in one batch call (the scheme of "continuous" batching in model servers):
at a few requests per second batches hold one, near saturation they hold what arrived during
one call.

Between the two, a free slot would send each request alone while another call is out, and
every call pays the whole gRPC stack at both ends. So while a call is in flight, a request
that finds a free slot waits up to `gather_s` for companions (or until a batch is full, or
the call in flight answers); with no call out it never waits.

Per-request deadlines hold inside a batch: a waiter gives up when its own budget runs out, a
request whose waiter gave up is never sent, and a batch call's timeout is that of its
longest-lived request, so no request is cut short by a neighbour's shorter deadline.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class BatchSizeMismatch(RuntimeError):
    """A batch call answered with another number of results than it was sent items."""


# gRPC's default max_receive_message_length, which every service of the mesh keeps: a batch
# over it would fail whole (RESOURCE_EXHAUSTED), every item with the one that made it big.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """At most `max_in_flight` calls at once toward one service, `max_batch` items a call,
    and, for a Batcher that knows its items' sizes, `max_bytes` of items a call (an item
    larger than that on its own goes alone, and fails alone); while a call is in flight, a
    request waits at most `gather_s` for others to share its."""

    max_batch: int = 64
    max_in_flight: int = 2
    max_bytes: int = MAX_MESSAGE_BYTES
    gather_s: float = 0.0

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_in_flight < 1 or self.max_bytes < 1:
            raise ValueError("max_batch, max_in_flight and max_bytes must be at least 1")
        if self.gather_s < 0:
            raise ValueError("gather_s must not be negative")


@dataclass(slots=True)
class Batched(Generic[Result]):
    """One request's result, and how many requests shared its call."""

    result: Result
    batch_size: int
    # time.perf_counter() when the batch call answered: a caller that reads several results
    # late still knows when each came.
    answered_at: float


class BatchObserver(Protocol):
    """Told of every batch call: its size and how long each of its items waited (seconds)."""

    def sent(self, size: int, waits: Sequence[float]) -> None: ...


@dataclass(slots=True)
class _Waiting(Generic[Item, Result]):
    item: Item
    # Event-loop times: when it was queued (gathering counts from it) and when it gives up.
    queued_at: float
    expires_at: float
    future: asyncio.Future[Batched[Result]] = field(repr=False)
    # The submitter's context (its trace): a batch call runs in its first item's.
    context: contextvars.Context = field(repr=False)


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


SendBatch = Callable[[Sequence[Item], float], Awaitable[Sequence[Result]]]


class Batcher(Generic[Item, Result]):
    """Sends items through `send(items, timeout_s)` within `limits`. `size`: an item's
    encoded bytes in the batch call (for items sent as bytes, `len`); without it the batch
    is bounded by count only."""

    def __init__(
        self, send: SendBatch[Item, Result], limits: BatchLimits,
        size: Callable[[Item], int] | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        self._send = send
        self.limits = limits
        self._size = size
        self._observer = observer
        self._queue: collections.deque[_Waiting[Item, Result]] = collections.deque()
        self._in_flight = 0
        # Armed while queued requests gather for a call (only while another is in flight).
        self._gathering: asyncio.TimerHandle | None = None
        # Calls running; kept referenced so that the event loop does not drop them.
        self._calls: set[asyncio.Task[None]] = set()
        # Armed by the first request queued in a turn of the event loop: the requests that
        # the same turn queues go with it. The Scores of a batch answered together (a
        # context batch, a packed ScoreStream message) resume in one turn; dispatching each
        # at once sent the first alone and left the rest to gather for the second slot.
        self._dispatch_soon: asyncio.Handle | None = None

    @property
    def queued(self) -> int:
        """Requests waiting for a free call slot (including any whose waiter gave up)."""
        return len(self._queue)

    async def submit(self, item: Item, budget_s: float) -> Batched[Result]:
        """The item's result. Raises TimeoutError once `budget_s` has passed, and whatever
        the batch call raised when it failed."""
        return await self.enqueue(item, budget_s)

    def enqueue(self, item: Item, budget_s: float) -> asyncio.Future[Batched[Result]]:
        """The future of the item's result (see submit), queued at once: a caller fanning
        out to several batchers awaits their futures with no task per call."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Batched[Result]] = loop.create_future()
        # A timer rather than asyncio.wait_for, which costs a task-like wrapper per wait.
        # An expired (or cancelled) future is done: the dispatcher then skips the item.
        expiry = loop.call_later(budget_s, _expire, future)
        future.add_done_callback(lambda _: expiry.cancel())
        now = loop.time()
        self._queue.append(
            _Waiting(item, now, now + budget_s, future, contextvars.copy_context())
        )
        if self._dispatch_soon is None:
            self._dispatch_soon = loop.call_soon(self._dispatch_queued)
        return future

    def _dispatch_queued(self) -> None:
        self._dispatch_soon = None
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and self._in_flight < self.limits.max_in_flight:
            gather_left = self._gather_left()
            if gather_left > 0:
                if self._gathering is None:
                    self._gathering = asyncio.get_running_loop().call_later(
                        gather_left, self._gathered
                    )
                return
            batch = self._take_batch()
            if not batch:
                break
            self._in_flight += 1
            call = asyncio.create_task(self._call(batch), context=batch[0].context)
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)
        if self._gathering is not None:
            self._gathering.cancel()
            self._gathering = None

    def _gathered(self) -> None:
        self._gathering = None
        self._dispatch()

    def _gather_left(self) -> float:
        """How much longer the queue should gather before a call: none with no call out
        (a quiet system waits for nothing), with a full batch, or once the oldest request
        has waited gather_s."""
        limits = self.limits
        if not limits.gather_s or not self._in_flight or len(self._queue) >= limits.max_batch:
            return 0.0
        return self._queue[0].queued_at + limits.gather_s - asyncio.get_running_loop().time()

    def _take_batch(self) -> list[_Waiting[Item, Result]]:
        batch: list[_Waiting[Item, Result]] = []
        total = 0
        while self._queue and len(batch) < self.limits.max_batch:
            waiting = self._queue[0]
            if waiting.future.done():
                self._queue.popleft()
                continue
            size = self._size(waiting.item) if self._size is not None else 0
            if batch and total + size > self.limits.max_bytes:
                break  # the next call takes it
            self._queue.popleft()
            batch.append(waiting)
            total += size
        return batch

    async def _call(self, batch: list[_Waiting[Item, Result]]) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        timeout_s = max(w.expires_at for w in batch) - now
        if self._observer is not None:
            self._observer.sent(len(batch), [now - w.queued_at for w in batch])
        try:
            results = await self._send([w.item for w in batch], timeout_s)
            if len(results) != len(batch):
                raise BatchSizeMismatch(f"{len(results)} results for {len(batch)} items")
        except Exception as exc:  # every item of the batch fails the same way
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(exc)
        else:
            answered_at = time.perf_counter()
            for waiting, result in zip(batch, results, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(Batched(result, len(batch), answered_at))
        finally:
            self._in_flight -= 1
            self._dispatch()
