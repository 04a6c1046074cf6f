"""Garbage-collector pauses are measured by generation (aegis_runtime.gc_pauses)."""

from __future__ import annotations

import gc
import time

from aegis_runtime import gc_pauses


def _full_collections() -> int:
    metric = gc_pauses._pauses.metric(time.time_ns())
    if metric is None:
        return 0
    full = 0
    for point in metric.data.data_points:
        if dict(point.attributes or {}) == {"generation": "2"}:
            full += point.count  # type: ignore[union-attr]  # a histogram's point
    return full


def test_a_full_collection_is_one_pause_of_generation_two() -> None:
    before = _full_collections()
    gc_pauses.measure_gc_pauses()
    gc_pauses.measure_gc_pauses()  # once per process, however often asked
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(gc_pauses._measure)
    assert _full_collections() == before + 1
