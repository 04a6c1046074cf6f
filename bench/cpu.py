"""CPU time of processes from /proc, so that a rate step can be charged per Score."""

from __future__ import annotations

import os
import resource
from collections.abc import Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (utime + stime)."""
    # The command name in field 2 may hold spaces and parentheses: split after its last ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU of named processes (and of this one) over a window, charged per unit of work."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self._start: dict[str, float] = {}
        self._own_start = 0.0

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._own_start = own_cpu_seconds()

    def used(self) -> dict[str, float]:
        """CPU seconds of each process since start()."""
        return {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}

    def per_unit_ms(self, units: int) -> dict[str, float]:
        """Each process's CPU ms per unit since start(), their `total`, and this process's
        own as `loadgen` (not in the total: the services are what is measured)."""
        units = max(units, 1)
        used = self.used()
        result = {name: round(seconds * 1000 / units, 3) for name, seconds in used.items()}
        result["total"] = round(sum(used.values()) * 1000 / units, 3)
        result["loadgen"] = round((own_cpu_seconds() - self._own_start) * 1000 / units, 3)
        return result
