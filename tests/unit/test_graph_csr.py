"""The temporal CSR index and ragged gathers against brute force on a small random graph."""

from __future__ import annotations

import numpy as np

from agent_services.network.csr import TemporalCSR, group_bounds, ragged_positions


def test_ragged_positions_lists_each_range_in_turn() -> None:
    positions, groups = ragged_positions(np.array([5, 0, 3, 9]), np.array([8, 0, 4, 7]))
    assert positions.tolist() == [5, 6, 7, 3]
    assert groups.tolist() == [0, 0, 0, 2]


def test_group_bounds_of_sorted_groups() -> None:
    starts, ends = group_bounds(np.array([0, 0, 2, 2, 2]), 4)
    assert starts.tolist() == [0, 2, 2, 5]
    assert ends.tolist() == [2, 2, 5, 5]


def random_graph(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    nodes = rng.integers(-1, 12, size=400)  # -1: the event has no such node
    # Coarse times, so that many rows tie in time.
    times = rng.integers(0, 60, size=400).astype(np.float64)
    return nodes, times


def test_rows_are_grouped_by_node_and_ordered_by_time_then_event() -> None:
    nodes, times = random_graph(1)
    csr = TemporalCSR.build(nodes, times, node_count=12)
    for node in range(12):
        rows = csr.rows[csr.indptr[node]: csr.indptr[node + 1]].tolist()
        expected = sorted(np.flatnonzero(nodes == node).tolist(), key=lambda e: (times[e], e))
        assert rows == expected
        assert csr.times[csr.indptr[node]: csr.indptr[node + 1]].tolist() == [
            times[e] for e in expected
        ]
    assert len(csr.rows) == int((nodes >= 0).sum())


def test_window_matches_brute_force_neighbour_sets() -> None:
    nodes, times = random_graph(2)
    csr = TemporalCSR.build(nodes, times, node_count=12)
    rng = np.random.default_rng(3)
    queries = rng.integers(0, 12, size=300)
    until = rng.integers(-5, 70, size=300).astype(np.float64)
    since = until - rng.integers(0, 30, size=300)
    newest = 4
    start, end = csr.window(queries, since, until, newest)
    for q in range(len(queries)):
        inside = [
            e for e in range(len(nodes))
            if nodes[e] == queries[q] and since[q] <= times[e] < until[q]
        ]
        inside.sort(key=lambda e: (times[e], e))
        assert csr.rows[start[q]: end[q]].tolist() == inside[-newest:], q


def test_first_at_or_after_handles_empty_nodes_and_an_empty_index() -> None:
    csr = TemporalCSR.build(np.array([2, 2, -1]), np.array([1.0, 5.0, 3.0]), node_count=4)
    found = csr.first_at_or_after(np.array([0, 2, 2, 2, 3]), np.array([9.0, 0.0, 5.0, 6.0, 1.0]))
    assert found.tolist() == [0, 0, 1, 2, 2]
    empty = TemporalCSR.build(np.array([-1]), np.array([1.0]), node_count=2)
    assert empty.first_at_or_after(np.array([1]), np.array([1.0])).tolist() == [0]
