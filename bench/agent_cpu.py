"""CPU per login of each agent's host path (proto in, signal out) on realistic contexts.

A world with 30 days of history (as the bench's realistic population) is replayed through the
offline context builder; the logins of its last day whose user has a long history are scored
by each agent's servicer, in batches of 1, 8 and 32, without gRPC. Prints one JSON line per
(agent, batch size): CPU microseconds per login (process time, the best of `--rounds`).

    .venv/bin/python -m bench.agent_cpu [--users 300] [--rounds 5]

Run it in two worktrees alternately to compare before and after on the same machine.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from aegis.v1 import agent_pb2
from aegis_domain.convert import context_to_proto, event_from_proto, event_to_proto
from aegis_domain.registry import default_registry
from aegis_domain.types import LoginContext, LoginEvent
from aegis_lab.contexts import offline_contexts
from aegis_lab.world import WorldConfig, generate
from agent_services.base import build_agent
from agent_services.host import AgentServicer
from audit_service.settings import AuditSettings

_DAY_S = 86_400
HISTORY_DAYS = 30
MIN_HISTORY = 25
BATCH_SIZES = (1, 8, 32)


def realistic_logins(users: int, seed: int, limit: int) -> list[tuple[LoginEvent, LoginContext]]:
    """The world's last-day logins by users with MIN_HISTORY past logins, with the contexts
    GetContext serves them (30 days of history, shared carrier-NAT addresses)."""
    config = WorldConfig(
        users=users, seed=seed, days=HISTORY_DAYS + 1, start=datetime(2026, 1, 1, tzinfo=UTC),
        events=users * 52, attack_share=0.03,
    )
    events = sorted((event_from_proto(g.event) for g in generate(config)),
                    key=lambda e: e.timestamp)
    # The world ends a little before its nominal last day: its last day is the load.
    cutoff = events[-1].timestamp - _DAY_S
    logins = []
    for event, context in offline_contexts(events, AuditSettings().context_bounds()):
        if event.timestamp >= cutoff and len(context.history) >= MIN_HISTORY:
            logins.append((event, context))
            if len(logins) >= limit:
                break
    return logins


def realistic_requests(users: int, seed: int, limit: int) -> list[agent_pb2.AssessRequest]:
    """realistic_logins as the router sends them."""
    return [
        agent_pb2.AssessRequest(event=event_to_proto(event), context=context_to_proto(context))
        for event, context in realistic_logins(users, seed, limit)
    ]


def cpu_per_login(servicer: AgentServicer, items: list[agent_pb2.AssessRequest],
                  batch: int, rounds: int) -> float:
    """Best-of-rounds CPU microseconds per login over all of `items` in batches of `batch`."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for first in range(0, len(items), batch):
            servicer.assess_batch(items[first:first + batch])
        best = min(best, time.process_time() - started)
    return best / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--logins", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model-dir", type=Path, default=Path(".aegis/models"))
    parser.add_argument("--agents", default="detection,behavior,network,geo")
    args = parser.parse_args()
    items = realistic_requests(args.users, args.seed, args.logins)
    history = sum(len(i.context.past_logins.timestamp) for i in items) / len(items)
    neighbours = sum(len(i.context.neighbors) for i in items) / len(items)
    print(json.dumps({"logins": len(items), "mean_history": round(history, 1),
                      "mean_neighbours": round(neighbours, 1)}))
    for name in args.agents.split(","):
        agent = build_agent(default_registry().get(name), args.model_dir / name)
        agent.load()
        servicer = AgentServicer(agent)
        servicer.assess_batch(items[:8])  # warm caches and lazy imports
        for batch in BATCH_SIZES:
            print(json.dumps({"agent": name, "batch": batch,
                              "cpu_us_per_login": round(cpu_per_login(
                                  servicer, items, batch, args.rounds), 1)}))


if __name__ == "__main__":
    main()
