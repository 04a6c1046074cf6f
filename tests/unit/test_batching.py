"""The router's adaptive batcher: no wait when idle, batches under load, deadlines per item."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from router_service.batching import Batcher, BatchLimits, BatchSizeMismatch


class GatedService:
    """Answers each batch call with the items doubled, once the test opens its gate; records
    every call's items and timeout."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], float]] = []
        self.called = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, items: Sequence[int], timeout_s: float) -> list[int]:
        self.calls.append((list(items), timeout_s))
        self.called.set()
        await self.gate.wait()
        return [2 * item for item in items]


async def occupied(
    max_batch: int = 8, head_budget_s: float = 1.0, max_in_flight: int = 1, gather_s: float = 0.0
) -> tuple[GatedService, Batcher[int, int], asyncio.Task]:
    """A batcher whose first call slot is taken by a call (of item 0) that the gate holds."""
    service = GatedService()
    service.gate.clear()
    batcher = Batcher(
        service.send, BatchLimits(max_batch, max_in_flight=max_in_flight, gather_s=gather_s)
    )
    head = asyncio.create_task(batcher.submit(0, head_budget_s))
    await service.called.wait()
    return service, batcher, head


async def until(condition, *, rounds: int = 1000) -> None:
    """Yields to the event loop until `condition()` holds (bounded: a hung test fails)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def test_an_idle_batcher_sends_at_once_in_a_batch_of_one() -> None:
    async def scenario() -> None:
        service = GatedService()
        batcher = Batcher(service.send, BatchLimits(max_batch=8, max_in_flight=1))
        first = await batcher.submit(3, 1.0)
        second = await batcher.submit(4, 1.0)
        assert (first.result, first.batch_size) == (6, 1)
        assert (second.result, second.batch_size) == (8, 1)
        assert [items for items, _ in service.calls] == [[3], [4]]

    asyncio.run(scenario())


def test_requests_arriving_while_the_slots_are_busy_go_together_in_the_next_call() -> None:
    async def scenario() -> None:
        service, batcher, head = await occupied()
        queued = [asyncio.create_task(batcher.submit(n, 1.0)) for n in range(1, 6)]
        await until(lambda: batcher.queued == 5)
        assert len(service.calls) == 1  # held back: the only slot is busy
        service.gate.set()
        results = [await task for task in (head, *queued)]
        assert [r.result for r in results] == [0, 2, 4, 6, 8, 10]
        assert [r.batch_size for r in results] == [1, 5, 5, 5, 5, 5]
        assert [items for items, _ in service.calls] == [[0], [1, 2, 3, 4, 5]]

    asyncio.run(scenario())


def test_a_batch_holds_at_most_max_batch_items() -> None:
    async def scenario() -> None:
        service, batcher, head = await occupied(max_batch=3)
        queued = [asyncio.create_task(batcher.submit(n, 1.0)) for n in range(1, 8)]
        await until(lambda: batcher.queued == 7)
        service.gate.set()
        await asyncio.gather(head, *queued)
        assert [items for items, _ in service.calls] == [[0], [1, 2, 3], [4, 5, 6], [7]]

    asyncio.run(scenario())


def test_a_batch_stops_before_its_items_pass_max_bytes_and_a_big_item_goes_alone() -> None:
    async def scenario() -> None:
        service = GatedService()
        service.gate.clear()
        # An item's size in bytes is its value: 10 bytes a call at most.
        batcher = Batcher(
            service.send, BatchLimits(max_batch=8, max_in_flight=1, max_bytes=10), size=int
        )
        head = asyncio.create_task(batcher.submit(1, 1.0))
        await service.called.wait()
        queued = [asyncio.create_task(batcher.submit(n, 1.0)) for n in (6, 4, 5, 9, 20, 1)]
        await until(lambda: batcher.queued == 6)
        service.gate.set()
        await asyncio.gather(head, *queued)
        assert [items for items, _ in service.calls] == [[1], [6, 4], [5], [9], [20], [1]]

    asyncio.run(scenario())


def test_each_free_slot_takes_a_call_of_its_own() -> None:
    async def scenario() -> None:
        service, batcher, head = await occupied(max_in_flight=2)
        second = asyncio.create_task(batcher.submit(1, 1.0))
        await until(lambda: len(service.calls) == 2)
        assert [items for items, _ in service.calls] == [[0], [1]]
        service.gate.set()
        await asyncio.gather(head, second)

    asyncio.run(scenario())


def test_requests_queued_in_one_turn_of_the_loop_go_in_one_call() -> None:
    """The Scores of one answered batch resume in one turn: they share their next call
    though a slot is free (sending each at once split them: the first alone)."""

    async def scenario() -> None:
        service = GatedService()
        batcher = Batcher(service.send, BatchLimits(max_batch=8, max_in_flight=2))
        futures = [batcher.enqueue(n, 1.0) for n in range(5)]
        results = await asyncio.gather(*futures)
        assert [items for items, _ in service.calls] == [[0, 1, 2, 3, 4]]
        assert [r.batch_size for r in results] == [5] * 5

    asyncio.run(scenario())


def test_a_request_whose_budget_runs_out_while_queued_times_out_and_is_never_sent() -> None:
    async def scenario() -> None:
        service, batcher, head = await occupied(head_budget_s=5.0)
        with pytest.raises(TimeoutError):
            await batcher.submit(1, 0.01)  # the only slot stays busy past its budget
        patient = asyncio.create_task(batcher.submit(2, 5.0))
        await until(lambda: batcher.queued == 2)
        service.gate.set()
        assert (await patient).batch_size == 1
        await head
        assert [items for items, _ in service.calls] == [[0], [2]]

    asyncio.run(scenario())


def test_a_batch_call_lasts_as_long_as_its_longest_lived_request() -> None:
    async def scenario() -> None:
        service, batcher, head = await occupied(head_budget_s=5.0)
        short = asyncio.create_task(batcher.submit(1, 0.5))
        long = asyncio.create_task(batcher.submit(2, 3.0))
        await until(lambda: batcher.queued == 2)
        service.gate.set()
        await asyncio.gather(head, short, long)
        (_, head_timeout), (_, batch_timeout) = service.calls
        assert 4.0 < head_timeout <= 5.0
        assert 2.0 < batch_timeout <= 3.0

    asyncio.run(scenario())


def test_a_failed_call_fails_every_request_of_its_batch_and_the_next_batch_still_goes() -> None:
    async def scenario() -> None:
        calls = 0

        async def flaky(items: Sequence[int], timeout_s: float) -> list[int]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ConnectionError("service down")
            return list(items)

        batcher = Batcher(flaky, BatchLimits(max_batch=8, max_in_flight=1))
        with pytest.raises(ConnectionError, match="service down"):
            await batcher.submit(1, 1.0)
        assert (await batcher.submit(2, 1.0)).result == 2

    asyncio.run(scenario())


def test_an_answer_with_the_wrong_number_of_results_fails_the_batch() -> None:
    async def scenario() -> None:
        async def short_answer(items: Sequence[int], timeout_s: float) -> list[int]:
            return []

        batcher = Batcher(short_answer, BatchLimits())
        with pytest.raises(BatchSizeMismatch, match="0 results for 1 items"):
            await batcher.submit(1, 1.0)

    asyncio.run(scenario())


def test_an_idle_batcher_that_gathers_still_sends_at_once() -> None:
    async def scenario() -> None:
        service = GatedService()
        batcher = Batcher(service.send, BatchLimits(max_batch=8, max_in_flight=2, gather_s=60))
        assert (await batcher.submit(3, 1.0)).batch_size == 1
        assert [items for items, _ in service.calls] == [[3]]

    asyncio.run(scenario())


def test_while_a_call_is_out_a_free_slot_gathers_until_that_call_answers() -> None:
    async def scenario() -> None:
        service, batcher, head = await occupied(max_in_flight=2, gather_s=60)
        queued = [asyncio.create_task(batcher.submit(n, 5.0)) for n in range(1, 4)]
        await until(lambda: batcher.queued == 3)
        assert len(service.calls) == 1  # a slot is free, but the requests gather
        service.gate.set()
        results = await asyncio.gather(head, *queued)
        assert [r.batch_size for r in results] == [1, 3, 3, 3]
        assert [items for items, _ in service.calls] == [[0], [1, 2, 3]]

    asyncio.run(scenario())


def test_a_full_batch_goes_without_gathering() -> None:
    async def scenario() -> None:
        service, batcher, head = await occupied(max_batch=3, max_in_flight=2, gather_s=60)
        queued = [asyncio.create_task(batcher.submit(n, 5.0)) for n in range(1, 4)]
        await until(lambda: len(service.calls) == 2)
        assert service.calls[1][0] == [1, 2, 3]
        service.gate.set()
        await asyncio.gather(head, *queued)

    asyncio.run(scenario())


def test_gathering_ends_after_gather_s_though_the_call_out_has_not_answered() -> None:
    async def scenario() -> None:
        service, batcher, head = await occupied(max_in_flight=2, gather_s=0.001)
        service.called.clear()
        queued = [asyncio.create_task(batcher.submit(n, 5.0)) for n in range(1, 3)]
        async with asyncio.timeout(5):  # a bound on a hung test, not a wait for time to pass
            await service.called.wait()
        assert [items for items, _ in service.calls] == [[0], [1, 2]]
        service.gate.set()
        await asyncio.gather(head, *queued)

    asyncio.run(scenario())


@pytest.mark.parametrize("limits", [{"max_batch": 0}, {"max_in_flight": 0}, {"max_bytes": 0}])
def test_limits_below_one_are_refused(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BatchLimits(**limits)


def test_a_negative_gathering_time_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        BatchLimits(gather_s=-0.001)
