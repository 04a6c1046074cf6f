"""The embedded backend's in-memory GetContext (audit_service.embedded.context_cache) gives
the index's answers exactly: on a random world of shared devices, IPs and ASNs, with queries
between commits, replays long before the held rows and a memory bound that evicts keys."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

from aegis.v1 import common_pb2 as pb
from aegis_domain.types import LoginContext
from audit_service.embedded.store import EmbeddedAuditStore
from audit_service.settings import AuditSettings
from tests.unit.audit_builders import T0, make_record

BOUNDS: dict[str, Any] = {"history_limit": 4, "neighbor_limit": 3, "scan_limit": 12,
          "neighbor_window_s": 3_000.0, "history_max_age_s": 5_000.0, "velocity_window_s": 600}


def random_world(seed: int, logins: int) -> list[pb.DecisionRecord]:
    """Logins of 30 users over few devices, IPs and ASNs (hot keys), timestamps mostly
    increasing with some late arrivals, some failed or flagged."""
    rng = random.Random(seed)
    records = []
    for i in range(logins):
        late = rng.random() < 0.1
        records.append(make_record(
            f"d-{i}", user_id=f"user-{rng.randrange(30)}",
            ts=T0 + i * 20 - (rng.randrange(2_000) if late else 0) + rng.choice((0, 0, 0.5)),
            ip=f"198.51.100.{rng.randrange(6)}", device_id=f"dev-{rng.randrange(40)}",
            asn=rng.choice((0, 64500, 64501)), success=rng.random() > 0.2,
            action=rng.choice((pb.ACTION_ALLOW, pb.ACTION_ALLOW, pb.ACTION_CHALLENGE)),
            risk=round(rng.random(), 3),
        ))
    return records


def answers(tmp_path: Path, records: list[pb.DecisionRecord], seed: int,
            **settings: Any) -> tuple[list[LoginContext], int]:
    """Contexts of random queries asked between commits (as of now, or long before), and
    how many memory could not answer."""
    rng = random.Random(seed)
    store = EmbeddedAuditStore(AuditSettings(data_dir=tmp_path, environment="test",
                                             **BOUNDS, **settings))

    async def scenario() -> list[LoginContext]:
        await store.start()
        try:
            contexts = []
            for i, record in enumerate(records):
                await store.record(record)
                if i % 5 == 0:
                    as_of = T0 + i * 20 - rng.choice((0, 0, 10, 20, 3_000))
                    contexts.append(await store.get_context(
                        f"user-{rng.randrange(30)}", f"dev-{rng.randrange(40)}",
                        f"198.51.100.{rng.randrange(7)}", rng.choice((0, 64500, 64502)), as_of,
                    ))
            return contexts
        finally:
            await store.close()

    return asyncio.run(scenario()), store.context_cache_misses


def test_memory_answers_as_the_index_does(tmp_path: Path) -> None:
    records = random_world(seed=7, logins=600)
    from_index, _ = answers(tmp_path / "index", records, seed=3, context_cache_rows=0)
    from_memory, misses = answers(tmp_path / "memory", records, seed=3)
    assert from_memory == from_index
    # Most were answered from memory, the replays long before the held rows from the index.
    assert 0 < misses < len(from_memory) // 3


def test_a_memory_bound_evicts_keys_and_keeps_answers_exact(tmp_path: Path) -> None:
    records = random_world(seed=11, logins=300)
    from_index, _ = answers(tmp_path / "index", records, seed=5, context_cache_rows=0)
    from_memory, _ = answers(tmp_path / "memory", records, seed=5, context_cache_rows=40)
    assert from_memory == from_index
