"""The ECS sizing table: its arithmetic on a small bench result, and the README's copy of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audit_service.settings import AuditSettings
from ecs.config import TaskSize
from ecs.services import DeployedService, deployed_services
from ecs.sizing import COLUMNS, SizingError, main, markdown, measured, size, tasks_for
from tests.conftest import REPO_ROOT


def step(rate: float, achieved: float, **cpu: float) -> dict[str, Any]:
    return {"rate": rate, "throughput_per_s": achieved,
            "cpu_ms_per_score": {**cpu, "total": sum(cpu.values()), "loadgen": 0.5}}


# A bench result: the 100/s step passed (the capacity), the 200/s one did not.
RESULTS = {"full": {"capacity_per_s": 99.9, "rates": [
    step(100.0, 99.9, router=3.0, geo=0.9, audit=4.2),
    step(200.0, 180.0, router=2.0, geo=0.5, audit=3.0),
]}}


def service(name: str, cpu: int, min_tasks: int = 1, max_tasks: int = 100) -> DeployedService:
    size = TaskSize(cpu=cpu, memory_mib=2 * cpu if cpu >= 512 else 512, min_tasks=min_tasks,
                    max_tasks=max_tasks)
    return DeployedService(name, (), 0, AuditSettings, (), size)


def test_sizes_each_service_at_the_capacity_step_and_the_cpu_target() -> None:
    at = measured(RESULTS)
    assert (at.rate, at.cpu_ms_per_score) == (100.0, {"router": 3.0, "geo": 0.9, "audit": 4.2})
    rows = size(at, [service("router", 1024), service("geo", 256), service("audit", 2048),
                     service("ingest", 512)], target_utilisation=0.6)
    # router: 3 ms x 1,000/s = 3 cores, at 60% of 1 vCPU a task = 5 tasks; 50 at 10,000/s.
    # geo: 0.9 cores on quarter-vCPU tasks at 60% = 6; audit's 2 vCPU count as one (one
    # Python process a task): 4.2 / 0.6 = 7. The stream consumer is not in the bench.
    assert [(r.name, r.tasks) for r in rows] == [
        ("router", (5, 50)), ("geo", (6, 60)), ("audit", (7, 70))
    ]
    assert rows[2].used_vcpu == 1.0


def test_an_agent_hosts_shared_cpu_is_spread_over_the_agents_it_served() -> None:
    results = {"full": {"capacity_per_s": 100.0, "rates": [
        step(100.0, 100.0, router=3.0, agents=2.0, geo=0.5, behavior=0.7, audit=4.2),
    ]}}

    at = measured(results)

    assert at.cpu_ms_per_score == {"router": 3.0, "geo": 1.5, "behavior": 1.7, "audit": 4.2}


def test_min_tasks_is_the_floor_and_a_count_over_max_tasks_says_so() -> None:
    rows = size(measured(RESULTS, rate=200.0), [service("geo", 1024, min_tasks=2, max_tasks=5)],
                target_utilisation=0.5)
    # 0.5 ms x 1,000/s = 0.5 cores at 50% = 1 task, raised to min_tasks; 10 at 10,000/s.
    assert rows[0].tasks == (2, 10)
    table = markdown(rows).splitlines()
    assert table[2] == "| `geo` | 0.50 | 1 (1) | 2 | 10 (max_tasks 5) |"
    assert table[3] == "| all | 0.50 | | 2 | 10 |"


def test_an_exact_fit_is_not_rounded_up() -> None:
    assert tasks_for(1_000, 3.0, 1.0, 0.6) == 5
    assert tasks_for(1_000, 3.01, 1.0, 0.6) == 6


@pytest.mark.parametrize(("results", "rate", "message"), [
    ({"full": {"capacity_per_s": 0.0, "rates": [step(100.0, 60.0, router=1.0)]}}, None,
     "no rate step of the full mesh passed"),
    (RESULTS, 300.0, "no rate step 300 (it has 100, 200)"),
    ({}, None, "no 'full' mesh"),
])
def test_a_result_that_cannot_size_says_why(results: dict, rate: float | None,
                                            message: str) -> None:
    with pytest.raises(SizingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        measured(results, rate=rate)


def test_the_command_prints_a_row_per_measured_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(RESULTS))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "the full mesh at 100 Score/s offered (99.9 achieved), tasks planned at 60% CPU" in out
    assert [line.split(" | ")[0] for line in out.splitlines() if line.startswith("| `")] == [
        "| `audit`", "| `geo`", "| `router`"
    ]


def test_the_readme_table_is_the_tools_for_every_deployed_service_the_bench_measures() -> None:
    readme = (REPO_ROOT / "README.md").read_text().splitlines()
    header = "| " + " | ".join(COLUMNS) + " |"
    assert header in readme, "README.md has no sizing table with the columns of ecs.sizing"
    start = readme.index(header) + 2
    names = []
    for line in readme[start:]:
        if not line.startswith("| `"):
            break
        names.append(line.split("`")[1])
    # Every deployed service but the stream consumer (which the bench does not run).
    assert names == [s.name for s in deployed_services() if s.name != "ingest"]
