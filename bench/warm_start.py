"""Start-up and first queries of the embedded audit service on a seeded population, with and
without warming the in-memory context at start (issue 12).

`.venv/bin/python -m bench.warm_start FOLDER` takes FOLDER/audit-data as `bench.history` made
it, and for each setting of context_cache_warm, on a fresh copy: the time `start()` takes,
the memory it allocates (a second pass under tracemalloc), and the latency of the first
GetContext on each of the busiest ASNs (a user and an IP of the ASN, as of now). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from aegis_mesh.cluster import ENVIRONMENT
from audit_service.embedded.store import INDEX_FILE, EmbeddedAuditStore
from audit_service.settings import AuditSettings
from bench.stats import summarise

BUSY_KEYS = 20


def busiest_asns(data_dir: Path) -> list[tuple[str, str, int]]:
    """(a user, an IP, ASN) of the ASNs with the most rows (mobile carriers), busiest first."""
    with sqlite3.connect(data_dir / INDEX_FILE) as conn:
        return list(conn.execute(
            "SELECT MAX(user_id), MAX(ip), asn FROM decisions GROUP BY asn "
            "ORDER BY COUNT(*) DESC LIMIT ?", (BUSY_KEYS,)))


async def one_start(data_dir: Path, warm: bool, probes: list[tuple[str, str, int]],
                    traced: bool) -> dict[str, Any]:
    store = EmbeddedAuditStore(AuditSettings(data_dir=data_dir, environment=ENVIRONMENT,
                                             context_cache_warm=warm))
    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    await store.start()
    start_s = time.perf_counter() - began
    try:
        if traced:
            allocated = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            return {"start_mib": round(allocated / 2**20, 1)}
        first_ms = []
        now = time.time()
        for user_id, ip, asn in probes:
            began = time.perf_counter()
            await store.get_context(user_id, "", ip, asn, now)
            first_ms.append((time.perf_counter() - began) * 1000)
        return {"start_s": round(start_s, 3), "first_query_ms": summarise(first_ms),
                "index_loads": store.context_cache_loads}
    finally:
        await store.close()


def measure(seeded: Path) -> dict[str, Any]:
    probes = busiest_asns(seeded)
    report: dict[str, Any] = {}
    for warm in (False, True):
        figures: dict[str, Any] = {}
        for traced in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp) / "audit-data"
                shutil.copytree(seeded, copy)
                figures |= asyncio.run(one_start(copy, warm, probes, traced))
        report["warm" if warm else "cold"] = figures
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="made by bench.history")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.folder / "audit-data"), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
