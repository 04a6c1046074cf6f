"""A temporal CSR index: the rows of each node sorted by time, searched in bulk with numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ragged_positions(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every position in [starts[i], ends[i]) for every i, and the i each position came from.

    The ranges come out one after the other, each in ascending order; empty or inverted
    ranges contribute nothing.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.maximum(np.asarray(ends, dtype=np.int64) - starts, 0)
    groups = np.repeat(np.arange(len(starts), dtype=np.int64), lengths)
    first_out = np.cumsum(lengths) - lengths
    positions = np.arange(int(lengths.sum()), dtype=np.int64)
    positions += np.repeat(starts - first_out, lengths)
    return positions, groups


def group_bounds(sorted_groups: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by group id: where each of the groups 0..count-1 starts and ends."""
    ids = np.arange(count)
    return (
        np.searchsorted(sorted_groups, ids, side="left"),
        np.searchsorted(sorted_groups, ids, side="right"),
    )


@dataclass(frozen=True, slots=True)
class TemporalCSR:
    """Rows (event numbers) grouped by node, ascending by time within each node.

    `indptr[v]:indptr[v + 1]` are the rows of node v; `times` are their timestamps and `rows`
    the events they stand for. Ties in time keep the events' order.
    """

    indptr: np.ndarray
    times: np.ndarray
    rows: np.ndarray

    @classmethod
    def build(cls, nodes: np.ndarray, times: np.ndarray, node_count: int) -> TemporalCSR:
        """Index events by `nodes[e]` (negative: the event has no such node)."""
        rows = np.flatnonzero(np.asarray(nodes) >= 0)
        rows = rows[np.lexsort((rows, times[rows], nodes[rows]))]
        counts = np.bincount(nodes[rows], minlength=node_count)
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(indptr=indptr, times=np.asarray(times[rows], dtype=np.float64), rows=rows)

    def first_at_or_after(self, nodes: np.ndarray, times: np.ndarray) -> np.ndarray:
        """For each (node, time): the position of the node's first row at or after `time`
        (the node's end when there is none). One binary search per query, all at once."""
        lo = self.indptr[nodes].copy()
        hi = self.indptr[np.asarray(nodes) + 1].copy()
        if len(self.times) == 0:
            return lo
        last = len(self.times) - 1
        times = np.asarray(times, dtype=np.float64)
        while True:
            active = lo < hi
            if not active.any():
                return lo
            mid = (lo + hi) // 2
            before = active & (self.times[np.minimum(mid, last)] < times)
            lo = np.where(before, mid + 1, lo)
            hi = np.where(active & ~before, mid, hi)

    def window(
        self, nodes: np.ndarray, since: np.ndarray, until: np.ndarray, newest: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per query, the range [start, end) of the node's rows with since <= time < until,
        cut to its `newest` rows."""
        end = self.first_at_or_after(nodes, until)
        start = np.maximum(self.first_at_or_after(nodes, since), end - newest)
        return start, end
