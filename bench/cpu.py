"""CPU time of processes from /proc, so that a rate step can be charged per Score."""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


# An agent host names each agent's thread so (agent_services.host): its CPU is that agent's.
AGENT_THREAD = "agent-"


def cpu_seconds(pid: int, task: int | None = None) -> float:
    """User + system CPU seconds the process (or its thread `task`) has used so far (utime +
    stime)."""
    stat = Path(f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat")
    # The command name in field 2 may hold spaces and parentheses: split after its last ")".
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def agent_threads(pid: int) -> dict[str, int]:
    """The agents' threads of an agent host: agent name -> thread id (none in a process that
    serves one agent)."""
    threads = {}
    for comm in Path(f"/proc/{pid}/task").glob("*/comm"):
        with contextlib.suppress(OSError):
            name = comm.read_text().strip()
            if name.startswith(AGENT_THREAD):
                threads[name.removeprefix(AGENT_THREAD)] = int(comm.parent.name)
    return threads


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU of named processes (and of this one) over a window, charged per unit of work."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self._threads: dict[str, dict[str, int]] = {}
        self._start: dict[str, float] = {}
        self._own_start = 0.0

    def start(self) -> None:
        # An agent host's agents are charged their own threads; the host keeps the rest
        # (its event loop and gRPC's threads: the transport they share).
        self._threads = {name: agent_threads(pid) for name, pid in self.pids.items()}
        self._start = self._now()
        self._own_start = own_cpu_seconds()

    def _now(self) -> dict[str, float]:
        now = {}
        for name, pid in self.pids.items():
            now[name] = cpu_seconds(pid)
            for agent, task in self._threads[name].items():
                now[agent] = cpu_seconds(pid, task)
                now[name] -= now[agent]
        return now

    def used(self) -> dict[str, float]:
        """CPU seconds of each process since start(), and of each agent in an agent host."""
        now = self._now()
        return {name: now[name] - self._start[name] for name in now}

    def per_unit_ms(self, units: int) -> dict[str, float]:
        """Each process's CPU ms per unit since start(), their `total`, and this process's
        own as `loadgen` (not in the total: the services are what is measured)."""
        units = max(units, 1)
        used = self.used()
        result = {name: round(seconds * 1000 / units, 3) for name, seconds in used.items()}
        result["total"] = round(sum(used.values()) * 1000 / units, 3)
        result["loadgen"] = round((own_cpu_seconds() - self._own_start) * 1000 / units, 3)
        return result
