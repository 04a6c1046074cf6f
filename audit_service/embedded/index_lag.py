"""How far the embedded index lags the acknowledged log: reads wait until it holds every
record acknowledged when they began.

A commit is acknowledged once its segment is fsynced and the context cache holds it; its index
rows are written after that, off Record's latency (bench.record_path on the shared machine: a
SQLite commit p50 0.25 ms, mean 2-3 ms with the WAL's checkpoints). Readers of the index (a
decision by id, pages, reviews, proofs, verify, a context key loaded on first use) wait for
those rows, so none of them misses an acknowledged decision.
"""

from __future__ import annotations

import threading

from aegis_runtime.errors import Unavailable


class IndexLag:
    """Commits acknowledged and commits indexed, counted by the writer thread."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._acknowledged = 0
        self._indexed = 0
        self._failure: BaseException | None = None

    def acknowledging(self) -> None:
        """The writer is about to make a commit visible before indexing it."""
        with self._changed:
            self._acknowledged += 1

    def indexed(self) -> None:
        """Every acknowledged commit is in the index."""
        with self._changed:
            self._indexed = self._acknowledged
            self._changed.notify_all()

    def failed(self, exc: BaseException) -> None:
        """The index could not be written: readers waiting for it fail instead."""
        with self._changed:
            self._failure = exc
            self._changed.notify_all()

    def caught_up(self) -> bool:
        """Whether the index holds every commit acknowledged so far."""
        with self._changed:
            return self._indexed >= self._acknowledged

    def wait(self) -> None:
        """Until the index holds every commit acknowledged now; Unavailable when it cannot."""
        with self._changed:
            target = self._acknowledged
            self._changed.wait_for(lambda: self._indexed >= target or self._failure is not None)
            if self._indexed < target:
                raise Unavailable(f"the audit index cannot be written: {self._failure}")
