"""ScoreStream's scheduling: a bounded number of items in flight, the items of one user one
after another in stream order, replies as they finish."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TypeVar

Item = TypeVar("Item")
Reply = TypeVar("Reply")


async def in_user_order(
    items: AsyncIterable[Item],
    user_of: Callable[[Item], str],
    handle: Callable[[Item], Awaitable[Reply]],
    concurrency: int,
    closing: tuple[float, Reply] | None = None,
) -> AsyncIterator[Reply]:
    """`handle` every item, at most `concurrency` at once, yielding each reply as it is ready
    (see ready_in_user_order)."""
    async for ready in ready_in_user_order(items, user_of, handle, concurrency, closing):
        for reply in ready:
            yield reply


async def ready_in_user_order(
    items: AsyncIterable[Item],
    user_of: Callable[[Item], str],
    handle: Callable[[Item], Awaitable[Reply]],
    concurrency: int,
    closing: tuple[float, Reply] | None = None,
) -> AsyncIterator[list[Reply]]:
    """`handle` every item, at most `concurrency` at once, yielding the replies ready at each
    moment together (the items of one batch call to the mesh finish at once: a caller can
    send them in one message).

    An item waits for the previous item of its user, so that each login sees the ones before
    it in its history (as a live system would have). Reading stops while `concurrency` items
    are in flight: the caller's stream is held back instead of queued without bound.
    `handle` must not raise: it turns an item's failure into its reply. `closing` (seconds,
    reply): that reply goes out once when the time is up, among the others (ScoreStream's
    request to its client to half-close).
    """
    slots = asyncio.Semaphore(concurrency)
    replies: asyncio.Queue[Reply | None] = asyncio.Queue()
    last_of_user: dict[str, asyncio.Task[None]] = {}

    async def handle_one(item: Item, before: asyncio.Task[None] | None) -> None:
        try:
            if before is not None:
                # Wait for the user's previous item without inheriting its failure.
                with contextlib.suppress(Exception):
                    await asyncio.shield(before)
            await replies.put(await handle(item))
        finally:
            slots.release()

    def forget_user(user: str) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            if last_of_user.get(user) is task:
                del last_of_user[user]

        return done

    async def read_items() -> None:
        pending: set[asyncio.Task[None]] = set()
        try:
            async for item in items:
                await slots.acquire()
                user = user_of(item)
                task = asyncio.create_task(handle_one(item, last_of_user.get(user)))
                last_of_user[user] = task
                pending.add(task)
                task.add_done_callback(pending.discard)
                task.add_done_callback(forget_user(user))
            if pending:
                await asyncio.gather(*pending)
        finally:
            # Also when reading fails (an item that cannot be decoded aborts the call): the
            # loop below stops and `await reader` raises that failure in the handler's own
            # task, instead of the handler waiting for a reply that never comes.
            replies.put_nowait(None)

    reader = asyncio.create_task(read_items())
    time_up = (
        asyncio.get_running_loop().call_later(closing[0], replies.put_nowait, closing[1])
        if closing is not None else None
    )
    try:
        while (reply := await replies.get()) is not None:
            ready = [reply]
            while not replies.empty() and (reply := replies.get_nowait()) is not None:
                ready.append(reply)
            yield ready
            if reply is None:
                break
        await reader
    finally:
        if time_up is not None:
            time_up.cancel()
        reader.cancel()
