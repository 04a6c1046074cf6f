"""Adaptive batching of concurrent requests toward one service.

A quiet system waits for nothing: a request that finds a free call slot goes out at once, in a
batch of one. Under load every slot is busy, and the requests that arrive meanwhile wait for
the next free slot, then go out together in one batch call. The batch size follows the load
with no timer to tune (the scheme of "continuous" batching in model servers): at a few
requests per second batches hold one, near saturation they hold what arrived during one call.

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


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """At most `max_in_flight` calls at once toward one service, `max_batch` items a call."""

    max_batch: int = 64
    max_in_flight: int = 2

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")


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
    """Sends items through `send(items, timeout_s)` within `limits`."""

    def __init__(
        self, send: SendBatch[Item, Result], limits: BatchLimits,
        observer: BatchObserver | None = None,
    ) -> None:
        self._send = send
        self.limits = limits
        self._observer = observer
        self._queue: collections.deque[_Waiting[Item, Result]] = collections.deque()
        self._in_flight = 0
        # Calls running; kept referenced so that the event loop does not drop them.
        self._calls: set[asyncio.Task[None]] = set()

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
        self._dispatch()
        return future

    def _dispatch(self) -> None:
        while self._queue and self._in_flight < self.limits.max_in_flight:
            batch = self._take_batch()
            if not batch:
                return
            self._in_flight += 1
            call = asyncio.create_task(self._call(batch), context=batch[0].context)
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    def _take_batch(self) -> list[_Waiting[Item, Result]]:
        batch: list[_Waiting[Item, Result]] = []
        while self._queue and len(batch) < self.limits.max_batch:
            waiting = self._queue.popleft()
            if not waiting.future.done():
                batch.append(waiting)
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
