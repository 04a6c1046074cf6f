"""The bench's CPU meter charges each agent of an agent host the CPU of its own thread."""

from __future__ import annotations

import os

import pytest

from agent_services.host import AgentHostServicer, AgentServicer
from bench.cpu import CpuMeter
from tests.service.test_router import FixedAgent


def test_each_agent_of_a_host_is_charged_its_own_thread() -> None:
    host = AgentHostServicer([AgentServicer(FixedAgent(name, 0.1)) for name in ("geo", "behavior")])
    try:
        meter = CpuMeter({"agents": os.getpid()})
        meter.start()
        busy = host._threads["geo"].submit(lambda: [i * i for i in range(200_000)])
        busy.result()

        per_score = meter.per_unit_ms(1)

        charged = {name: ms for name, ms in per_score.items() if name not in ("total", "loadgen")}
        assert set(charged) == {"agents", "geo", "behavior"}
        # The agents' threads are parts of the host's process, counted once in the total.
        assert per_score["total"] == pytest.approx(sum(charged.values()), abs=0.01)
    finally:
        host.close()
