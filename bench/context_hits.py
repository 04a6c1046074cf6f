"""How often the embedded audit's in-memory context answers GetContext on the realistic
population (issue 12): `.venv/bin/python -m bench.context_hits FOLDER` takes FOLDER/audit-data
and FOLDER/templates.jsonl as `bench.history` made them, starts a store on a fresh copy
(warmed as the service is) and asks the context of the load's logins in the load generator's
order; per stretch of logins it prints the keys loaded from the index on first use, the
queries memory could not answer (read from SQLite instead) and this process's CPU per login
(every thread's). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from aegis_domain.convert import timestamp_to_seconds
from aegis_mesh.cluster import ENVIRONMENT
from audit_service.embedded.store import EmbeddedAuditStore
from audit_service.settings import AuditSettings
from bench.cpu import own_cpu_seconds
from bench.population import Population, read_templates

STRETCHES = (400, 1_000, 4_500, 9_000)  # logins asked so far at the end of each stretch


async def measure(data_dir: Path, templates: Path) -> list[dict[str, Any]]:
    store = EmbeddedAuditStore(AuditSettings(data_dir=data_dir, environment=ENVIRONMENT))
    await store.start()
    population = Population(read_templates(templates), seed=1)
    rows: list[dict[str, Any]] = []
    asked = 0
    try:
        for end in STRETCHES:
            loads, misses = store.context_cache_loads, store.context_cache_misses
            cpu = own_cpu_seconds()
            for _ in range(end - asked):
                event = population.next_login()
                await store.get_context(event.user_id, event.device_id, event.ip, event.asn,
                                        timestamp_to_seconds(event.timestamp))
            rows.append({"logins": f"{asked + 1}..{end}",
                         "index_loads": store.context_cache_loads - loads,
                         "answered_by_index": store.context_cache_misses - misses,
                         "cpu_ms_per_login": round((own_cpu_seconds() - cpu) * 1000
                                                   / (end - asked), 3)})
            asked = end
    finally:
        await store.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a population made by bench.history")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "audit-data"
        shutil.copytree(args.folder / "audit-data", copy)
        rows = asyncio.run(measure(copy, args.folder / "templates.jsonl"))
    json.dump(rows, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
