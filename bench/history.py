"""The realistic population: 30 days of production-like history per user, written into an
audit store through the store's own group-commit path before the load, and the new logins of
those users that the load then sends.

The world generator (aegis_lab.world) makes the people: households, phones on carrier-grade NAT,
corporate egress, VPN exits, trips, so that IPs and ASNs are shared the way they are in
production and some users reach the history and neighbour bounds of GetContext. Its logins
before now are the history; its logins of the following day are the load's templates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aegis.v1 import common_pb2
from aegis_domain.context_rules import ContextBounds
from aegis_lab.world import GeneratedLogin, WorldConfig, generate
from aegis_mesh.cluster import ENVIRONMENT
from audit_service.embedded.store import EmbeddedAuditStore
from audit_service.settings import AuditSettings
from audit_service.storage import ContextQuery
from bench.population import write_templates
from bench.stats import summarise

HISTORY_DAYS = 30
# Users with fewer logins than this before now are left out of the load (they stay in the
# history, as neighbours).
MIN_HISTORY = 25
# Logins per user over the history on average; the world's activity spreads them (log-normal)
# so that about a third of the users pass the 50-login bound and a third fall under 25.
MEAN_LOGINS = 50
# The world runs on this long past now: its logins then are what the load sends.
LOAD_DAYS = 1
ATTACK_SHARE = 0.03
LINKS = ("device", "ip", "asn")
_DAY_S = 86_400
# Records in flight at once while seeding: the store commits them in batches of its own.
_SEED_CHUNK = 5_000
# Load logins whose context the seeded store serves, as a check of what the load will meet.
_PROBES = 200


def seed_record(login: GeneratedLogin) -> common_pb2.DecisionRecord:
    """The record a past login left: decided, without the context it was served (the index,
    which is what GetContext reads, holds the same either way)."""
    event = login.event
    attack = login.truth.is_attack
    return common_pb2.DecisionRecord(
        decision=common_pb2.Decision(
            decision_id=f"seed-{event.event_id}", event_id=event.event_id,
            action=common_pb2.ACTION_BLOCK_TEMPORARY if attack else common_pb2.ACTION_ALLOW,
            risk=0.9 if attack else 0.05, confidence=0.8, policy_version="bench-seed",
        ),
        event=event,
        environment=ENVIRONMENT,
    )


async def seed_store(
    data_dir: Path, logins: Sequence[GeneratedLogin], probes: Sequence[common_pb2.LoginEvent],
    now: float,
) -> dict[str, Any]:
    """Record every login through the embedded store's group commit (the log, chain,
    checkpoints and index are what production would have written); then describe the
    contexts the store serves for `probes` at `now`."""
    store = EmbeddedAuditStore(AuditSettings(data_dir=data_dir, environment=ENVIRONMENT))
    await store.start()
    try:
        for first in range(0, len(logins), _SEED_CHUNK):
            chunk = logins[first: first + _SEED_CHUNK]
            await asyncio.gather(*(store.record(seed_record(login)) for login in chunk))
        contexts = await store.get_contexts(
            [ContextQuery(e.user_id, e.device_id, e.ip, e.asn, now) for e in probes]
        )
    finally:
        await store.close()
    return {
        "history": summarise([len(c.history) for c in contexts]),
        "neighbors": summarise([len(c.neighbors) for c in contexts]),
    }


def link_keys(event: common_pb2.LoginEvent) -> dict[str, object]:
    return {"device": event.device_id, "ip": event.ip, "asn": event.asn}


def link_bounds(
    past: Iterable[common_pb2.LoginEvent], templates: Sequence[common_pb2.LoginEvent],
    bounds: ContextBounds,
) -> dict[str, Any]:
    """Per link kind: how many links reach the neighbour bound (more other users than
    neighbor_limit) and the scan bound (more rows than scan_limit), and the share of the load's
    logins whose link reaches the neighbour bound."""
    users: dict[str, defaultdict[object, set[str]]] = {k: defaultdict(set) for k in LINKS}
    rows: dict[str, Counter[object]] = {k: Counter() for k in LINKS}
    for event in past:
        for kind, key in link_keys(event).items():
            users[kind][key].add(event.user_id)
            rows[kind][key] += 1
    report = {}
    for kind in LINKS:
        crowded = {k for k, u in users[kind].items() if len(u) > bounds.neighbor_limit}
        report[kind] = {
            "links": len(users[kind]),
            "at_neighbor_bound": len(crowded),
            "at_scan_bound": sum(1 for n in rows[kind].values() if n > bounds.scan_limit),
            "load_share_at_neighbor_bound": round(
                sum(1 for t in templates if link_keys(t)[kind] in crowded) / len(templates), 3
            ) if templates else 0.0,
        }
    return report


def build(folder: Path, users: int, seed: int, bounds: ContextBounds) -> dict[str, Any]:
    """Seed `folder/audit-data` with the history and write the load's templates to
    `folder/templates.jsonl`; return what the population is like (and how long it took)."""
    started = time.perf_counter()
    now = time.time()
    days = HISTORY_DAYS + LOAD_DAYS
    config = WorldConfig(
        users=users, seed=seed, days=days, attack_share=ATTACK_SHARE,
        start=datetime.fromtimestamp(now - HISTORY_DAYS * _DAY_S, UTC),
        events=round(users * MEAN_LOGINS * days / HISTORY_DAYS / (1 - ATTACK_SHARE)),
    )
    past: list[GeneratedLogin] = []
    upcoming: list[common_pb2.LoginEvent] = []
    for login in generate(config):
        if login.event.timestamp.seconds < now:
            past.append(login)
        else:
            upcoming.append(login.event)
    history = Counter(login.event.user_id for login in past)
    load_users = {user for user, n in history.items() if n >= MIN_HISTORY}
    templates = [event for event in upcoming if event.user_id in load_users]
    generated = time.perf_counter()

    folder.mkdir(parents=True, exist_ok=True)
    served = asyncio.run(seed_store(folder / "audit-data", past, templates[:_PROBES], now))
    write_templates(folder / "templates.jsonl", templates)
    seeded = time.perf_counter()
    per_user = [history[user] for user in load_users]
    return {
        "world_users": users,
        "load_users": len(load_users),
        "templates": len(templates),
        "history_records": len(past),
        "history_per_load_user": {"min": min(per_user, default=0), **summarise(per_user)},
        "load_users_at_history_bound": sum(1 for n in per_user if n >= bounds.history_limit),
        "links": link_bounds((login.event for login in past), templates, bounds),
        # What GetContext serves the first load logins: history and neighbours listed.
        "served_context": served,
        "generate_s": round(generated - started, 1),
        "seed_s": round(seeded - generated, 1),
        "seed_records_per_s": round(len(past) / (seeded - generated), 1),
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.history FOLDER`: a realistic population for bench.compare
    --population (seeded audit data and the load's logins); prints what it came to."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--users", type=int, default=1200, help="users of the world")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    shutil.rmtree(args.folder, ignore_errors=True)
    print(json.dumps(build(args.folder, args.users, args.seed, AuditSettings().context_bounds())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
