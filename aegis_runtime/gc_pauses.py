"""The garbage collector's pauses, as a histogram by generation: a collection stops everything
its process serves, so a long one is a Score's tail (full collections paused the audit service
for 121 ms at 20 Score/s until start-up's objects were frozen: aegis_runtime.server)."""

from __future__ import annotations

import gc
import time
from typing import Any

from aegis_runtime.metrics import SECONDS, histogram_cells

_pauses = histogram_cells(
    "aegis.runtime.gc.pause", SECONDS, "Garbage-collector pauses, by generation (2: full).")
_GENERATIONS = [{"generation": str(generation)} for generation in range(3)]
# When the collection under way began (collections do not nest).
_began = 0.0


def _measure(phase: str, info: dict[str, Any]) -> None:
    global _began
    if phase == "start":
        _began = time.perf_counter()
        return
    generation = info["generation"]
    _pauses.record(generation, time.perf_counter() - _began, _GENERATIONS[generation])


def measure_gc_pauses() -> None:
    """Record every collection's pause from now on (once per process)."""
    if _measure not in gc.callbacks:
        gc.callbacks.append(_measure)
