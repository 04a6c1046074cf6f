"""Group commit, for every backend: callers queue records, one writer commits them in batches."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aegis.v1 import common_pb2
from aegis_runtime.errors import ServiceError, Unavailable
from audit_service import instruments
from audit_service.index_rows import IndexedEntry, indexed_entry
from audit_service.log.chain import canonical_record
from audit_service.storage import RecordResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """A record accepted by submit(), encoded on the caller's side of the queue.
    `deadline` is the caller's, in time.monotonic() seconds (None: none given)."""

    decision_id: str
    canonical: bytes
    indexed: IndexedEntry
    deadline: float | None


Commit = Callable[[list[PendingRecord]], list[RecordResult | ServiceError]]
"""Makes a batch durable (in the writer thread) and returns one result per record, in order:
where it is, or why that record alone was refused; raises when the batch could not be made
durable."""

AfterAck = Callable[[], None]
"""Work a batch's durability does not wait for (the embedded index): run in the writer thread
once the batch's callers have their results, before the next batch. Raising stops the
committer as a failed commit does with fail_stop."""

_Queued = tuple[PendingRecord, "asyncio.Future[RecordResult]"]


class GroupCommitter:
    """One writer task takes everything queued (up to `max_batch`), runs `commit` on it in a
    thread of its own, then resolves every caller. Records that arrive meanwhile form the next
    batch, so a quiet system waits for nothing and a busy one shares each write.

    `fail_stop`: after a failed commit, refuse every later record (the state on disk is
    uncertain until a restart recovers it). Otherwise only that batch fails.

    Per batch the event loop wakes the writer thread once and the thread wakes the loop once
    (with the results): `after_ack` runs in the thread after that, off the callers' latency.
    """

    def __init__(
        self, commit: Commit, max_batch: int, *, fail_stop: bool, after_ack: AfterAck | None = None
    ) -> None:
        self._commit = commit
        self._after_ack = after_ack
        self._max_batch = max_batch
        self._fail_stop = fail_stop
        # A thread of its own, so that reads filling the default executor never delay a commit.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
        self._queue: asyncio.Queue[_Queued | None] | None = None
        self._in_flight: dict[str, asyncio.Future[RecordResult]] = {}
        self._task: asyncio.Task[None] | None = None
        # Whether the writer thread is at a batch (after_ack included), and the future the
        # writer task waits on for it to be done (_writer_free).
        self._free = threading.Lock()
        self._busy = False
        self._free_waiter: asyncio.Future[None] | None = None
        self.failure: BaseException | None = None
        # Set with `failure` (fail_stop): the store refuses everything until a restart.
        self.stopped = asyncio.Event()
        self.commit_count = 0
        """Batches made durable so far: records share them."""

    def start(self) -> None:
        # Made here, not in __init__: a queue belongs to the event loop that serves.
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(self._queue), name="audit-writer")

    async def close(self) -> None:
        """Commit what was queued before, then stop the writer."""
        queue, self._queue = self._queue, None
        if queue is not None and self._task is not None:
            # Records queued before close are still written: the sentinel goes last.
            queue.put_nowait(None)
            await self._task
            self._task = None
        self._thread.shutdown()

    async def submit(
        self, record: common_pb2.DecisionRecord, deadline: float | None,
        context: bytes | None = None,
    ) -> RecordResult:
        """The record's result once its batch is durable; a repeat of a decision id still in
        flight waits for the first and is a duplicate. `context`: see AuditStore.record."""
        if self._queue is None:
            raise Unavailable("the audit store is not started")
        if self.failure is not None:
            raise Unavailable(f"the audit log cannot be written: {self.failure}")
        decision_id = record.decision.decision_id
        first = self._in_flight.get(decision_id)
        if first is not None:
            # Shielded: a caller giving up must not cancel the write other callers await.
            result = await asyncio.shield(first)
            return dataclasses.replace(result, duplicate=True)
        pending = PendingRecord(
            decision_id, canonical_record(record, context), indexed_entry(record), deadline
        )
        future: asyncio.Future[RecordResult] = asyncio.get_running_loop().create_future()
        self._in_flight[decision_id] = future
        self._queue.put_nowait((pending, future))
        return await asyncio.shield(future)

    async def _run(self, queue: asyncio.Queue[_Queued | None]) -> None:
        stopping = False
        while not stopping:
            item = await queue.get()
            if item is None:
                break
            # Records go on queueing while the writer finishes the last batch's after_ack:
            # they share the next commit rather than a small one waiting in the thread.
            await self._writer_free()
            batch = [item]
            while len(batch) < self._max_batch and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[_Queued]) -> None:
        pending = [entry for entry, _ in batch]
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        written: asyncio.Future[list[RecordResult | ServiceError]] = loop.create_future()
        try:
            if self.failure is not None:
                raise self.failure
            # Not run_in_executor: its future would wake the loop again after after_ack.
            with self._free:
                self._busy = True
            self._thread.submit(self._write, pending, loop, written)
            results = await written
        except Exception as exc:
            log.exception("audit log write failed",
                          extra={"records": len(pending), "fail_stop": self._fail_stop})
            if self._fail_stop:
                self._stop(exc)
            for _, future in batch:
                future.set_exception(Unavailable(f"the audit log cannot be written: {exc}"))
                # Callers may have given up (deadline); their futures' errors are logged above.
                future.exception()
        else:
            instruments.committed(len(pending), time.perf_counter() - started)
            self.commit_count += 1
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, ServiceError):
                    future.set_exception(result)
                    future.exception()  # the caller may have given up; it is the record's
                else:
                    future.set_result(result)
        finally:
            for entry in pending:
                self._in_flight.pop(entry.decision_id, None)

    def _write(
        self, pending: list[PendingRecord], loop: asyncio.AbstractEventLoop,
        written: asyncio.Future[list[RecordResult | ServiceError]],
    ) -> None:
        """In the writer thread: commit, hand the results to the loop, then after_ack."""
        try:
            try:
                if self.failure is not None:  # after_ack failed while this batch was queued
                    raise self.failure
                results = self._commit(pending)
            except BaseException as exc:
                loop.call_soon_threadsafe(_settle, written, exc)
                return
            loop.call_soon_threadsafe(_settle, written, results)
            if self._after_ack is not None:
                self._run_after_ack(self._after_ack, loop)
        finally:
            with self._free:
                self._busy = False
                waiter, self._free_waiter = self._free_waiter, None
            if waiter is not None:  # only when records wait: no wake-up otherwise
                loop.call_soon_threadsafe(_settle, waiter, None)

    def _run_after_ack(self, after_ack: AfterAck, loop: asyncio.AbstractEventLoop) -> None:
        try:
            after_ack()
        except Exception as exc:
            log.exception("audit work after the acknowledgement failed")
            # Set here, so that a batch already queued behind this one is refused too.
            self.failure = exc
            loop.call_soon_threadsafe(self.stopped.set)

    async def _writer_free(self) -> None:
        """Once the writer thread is done with the last batch."""
        with self._free:
            if not self._busy:
                return
            waiter = self._free_waiter = asyncio.get_running_loop().create_future()
        await waiter

    def _stop(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
        self.stopped.set()


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.cancelled():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
