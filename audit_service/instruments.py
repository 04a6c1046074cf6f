"""The audit service's metrics: group commits and their storage writes, GetContext, reviews
(overrides of the AI by outcome), the review queue and verify failures.

Module-level instruments: the storage writes that time themselves (an fsync, a PUT) are deep
in the backends, which need no handle passed down for one histogram."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from opentelemetry.metrics import CallbackOptions, Observation

from aegis.v1 import common_pb2
from aegis_runtime.metrics import (
    SECONDS,
    CounterCells,
    bind,
    counter,
    counter_cells,
    gauge,
    histogram,
)
from audit_service.storage import AuditStore, ReviewQueue

_commit_duration = histogram(
    "aegis.audit.commit.duration",
    "One group commit: the records of a batch made durable and indexed.",
)
# Records per commit: the rate of records over that of commits (count of commit.duration).
_commit_records: CounterCells[None] = counter_cells(
    "aegis.audit.commit.records", "{record}", "Records made durable by group commits.",
    {None: {}})
# Mean write latency: the rate of write time over that of writes.
_writes: CounterCells[str] = counter_cells(
    "aegis.audit.storage.writes", "{write}",
    "Durable writes of the log, by operation: fsync (embedded) or put (S3).",
    bind(["fsync", "put"], "operation"))
_write_time: CounterCells[str] = counter_cells(
    "aegis.audit.storage.write_time", SECONDS,
    "Time in durable writes of the log, summed, by operation.",
    bind(["fsync", "put"], "operation"))
_context_duration = histogram(
    "aegis.audit.context.duration",
    "GetContext / GetContextBatch in the audit service, per call.",
)
_context_logins: CounterCells[None] = counter_cells(
    "aegis.audit.context.logins", "{login}", "Logins whose context was served.", {None: {}})
_context_rows: CounterCells[None] = counter_cells(
    "aegis.audit.context.rows", "{row}",
    "Past logins and graph neighbours read for the contexts served.", {None: {}})
_reviews = counter(
    "aegis.audit.reviews", "{review}",
    "Reviews decided, by outcome and whether the reviewer overrode the AI's action "
    "(override=true: the resulting action differs from the decision's).",
)
_verify_failures = counter(
    "aegis.audit.verify.failures", "{problem}",
    "Problems found by Verify, by kind (modified, missing, reordered, ...).",
)


class _ReviewQueueGauges:
    """The review queue as last read from the store: reading it is a query, made on the
    service's loop (read_review_queue), never on the exporter's thread."""

    def __init__(self) -> None:
        self.queue = ReviewQueue(0, None)
        gauge("aegis.audit.reviews.pending", self._pending, "{decision}",
              "Escalated decisions waiting for a review.")
        gauge("aegis.audit.reviews.oldest_pending_age", self._oldest_age, SECONDS,
              "Age of the oldest escalated decision waiting for a review, from its login's "
              "time (0: none waits).")

    def _pending(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.queue.pending)]

    def _oldest_age(self, options: CallbackOptions) -> Iterable[Observation]:
        oldest = self.queue.oldest_event_time
        return [Observation(0.0 if oldest is None else max(0.0, time.time() - oldest))]


_review_queue = _ReviewQueueGauges()

_REVIEW = {
    (outcome, override): {"outcome": common_pb2.ReviewOutcome.Name(outcome).removeprefix(
        "REVIEW_OUTCOME_"), "override": str(override).lower()}
    for outcome in common_pb2.ReviewOutcome.values()
    for override in (False, True)
}


def committed(records: int, elapsed_s: float) -> None:
    _commit_duration.record(elapsed_s)
    _commit_records.cells[None] += records


@contextmanager
def storage_write(operation: str) -> Iterator[None]:
    """Times one durable write (operation: fsync or put)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        _writes.cells[operation] += 1
        _write_time.cells[operation] += time.perf_counter() - started


def contexts_served(logins: int, rows: int, elapsed_s: float) -> None:
    """One context call: its duration, its logins and the rows read for them."""
    _context_duration.record(elapsed_s)
    _context_logins.cells[None] += logins
    _context_rows.cells[None] += rows


def reviewed(review: common_pb2.Review, duplicate: bool) -> None:
    """A review decided (a duplicate, the same review sent again, is not counted twice)."""
    if not duplicate:
        _reviews.add(1, _REVIEW[review.outcome, review.action != review.original_action])


async def read_review_queue(store: AuditStore) -> None:
    """Reads the queue's depth for the gauges."""
    _review_queue.queue = await store.review_queue()


def verified(problem_kinds: list[str]) -> None:
    for kind in problem_kinds:
        _verify_failures.add(1, {"kind": kind})
