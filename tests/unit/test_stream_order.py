"""ScoreStream's scheduling without gRPC: bounded in flight, one user's items in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import pytest

from router_service.stream_order import in_user_order, ready_in_user_order


async def _stream(items: Iterable[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


def _user(item: str) -> str:
    return item[0]  # "a1" is user a's first item


def test_a_users_items_wait_for_each_other_and_not_for_other_users() -> None:
    started: list[str] = []
    gates = {item: asyncio.Event() for item in ("a1", "a2", "b1")}

    async def handle(item: str) -> str:
        started.append(item)
        if item == "a1":
            await gates["a1"].wait()
        return item

    async def run() -> list[str]:
        replies = in_user_order(_stream(["a1", "a2", "b1"]), _user, handle, concurrency=4)
        first = await anext(replies)
        # b1 is done while a1 still waits, and a2 has not begun behind it.
        assert (first, started) == ("b1", ["a1", "b1"])
        gates["a1"].set()
        return [first] + [reply async for reply in replies]

    assert asyncio.run(run()) == ["b1", "a1", "a2"]


def test_no_more_than_the_concurrency_is_in_flight() -> None:
    in_flight = 0
    most = 0
    release = asyncio.Event()

    async def handle(item: str) -> str:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight == 2:
            release.set()
        await release.wait()
        in_flight -= 1
        return item

    async def run() -> list[str]:
        items = [f"{user}1" for user in "abcdef"]
        return [reply async for reply in in_user_order(_stream(items), _user, handle, 2)]

    assert sorted(asyncio.run(run())) == [f"{user}1" for user in "abcdef"]
    assert most == 2


def test_one_users_items_come_back_in_stream_order() -> None:
    async def handle(item: str) -> str:
        return item

    async def run() -> list[str]:
        items = [f"a{n}" for n in range(1, 9)]
        return [reply async for reply in in_user_order(_stream(items), _user, handle, 8)]

    assert asyncio.run(run()) == [f"a{n}" for n in range(1, 9)]


def test_the_closing_reply_goes_out_when_its_time_is_up_among_the_others() -> None:
    gate = asyncio.Event()

    async def handle(item: str) -> str:
        await gate.wait()
        return item

    async def run() -> list[str]:
        replies = in_user_order(_stream(["a1"]), _user, handle, 4, closing=(0.0, "closing"))
        first = await anext(replies)
        gate.set()
        return [first] + [reply async for reply in replies]

    # Out while a1 still waits: the stream asks to close without waiting for its items.
    assert asyncio.run(run()) == ["closing", "a1"]


def test_a_stream_that_fails_to_read_ends_with_that_failure() -> None:
    # gRPC raises from the request iterator when an item cannot be decoded (the call is
    # aborted INVALID_ARGUMENT there): the scheduler must end with it, not wait for more.
    class Unreadable(Exception):
        pass

    async def broken() -> AsyncIterator[str]:
        yield "a1"
        raise Unreadable

    async def handle(item: str) -> str:
        return item

    async def run() -> list[str]:
        return [reply async for reply in in_user_order(broken(), _user, handle, concurrency=4)]

    async def bounded() -> list[str]:
        # The bound only turns a hang into a failure; it times nothing.
        return await asyncio.wait_for(run(), timeout=30)

    with pytest.raises(Unreadable):
        asyncio.run(bounded())


def test_replies_that_finish_together_come_together() -> None:
    # As the items of one batch call to the mesh do: all three wait for the last to arrive.
    together = asyncio.Event()

    async def handle(item: str) -> str:
        if item == "c1":
            together.set()
        await together.wait()
        return item

    async def run() -> list[list[str]]:
        ready = ready_in_user_order(_stream(["a1", "b1", "c1", "a2"]), _user, handle, 8)
        return [sorted(replies) async for replies in ready]

    assert asyncio.run(run()) == [["a1", "b1", "c1"], ["a2"]]
