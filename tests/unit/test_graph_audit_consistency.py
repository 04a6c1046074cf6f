"""Training neighbourhoods equal what the real audit store's GetContext serves."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import event_from_proto
from aegis_domain.types import LoginContext, LoginEvent
from aegis_lab.graph.sampler import NeighbourhoodSampler
from aegis_lab.graph.table import LoginTable
from aegis_lab.world import GeneratedLogin
from agent_services.network.context_graph import graphs_from_contexts
from tests.unit.audit_builders import audit_settings, running_store
from tests.unit.graph_builders import SMALL_BOUNDS, assert_same_graphs, tiny_world


def served_contexts(
    tmp_path: Path, logins: Sequence[GeneratedLogin]
) -> list[tuple[LoginEvent, LoginContext]]:
    """Every login with the context the embedded store answers for it once all the logins
    are recorded (each context sees only the logins strictly before its own)."""
    settings = audit_settings(tmp_path, **asdict(SMALL_BOUNDS))

    async def scenario() -> list[tuple[LoginEvent, LoginContext]]:
        async with running_store(settings) as store:
            await asyncio.gather(*(store.record(_record(login.event)) for login in logins))
            events = [event_from_proto(login.event) for login in logins]
            return [
                (event, await store.get_context(
                    event.user_id, event.device_id, event.ip, event.asn, event.timestamp
                ))
                for event in events
            ]

    return asyncio.run(scenario())


def _record(event: pb.LoginEvent) -> pb.DecisionRecord:
    return pb.DecisionRecord(
        decision=pb.Decision(
            decision_id=f"d-{event.event_id}", event_id=event.event_id,
            action=pb.ACTION_ALLOW, risk=0.0, confidence=0.5, policy_version="p-1",
        ),
        event=event,
        environment="test",
    )


def test_sampler_matches_the_embedded_audit_store(tmp_path: Path) -> None:
    world = tiny_world()
    sampler = NeighbourhoodSampler(LoginTable.from_logins(world), SMALL_BOUNDS)

    assert_same_graphs(
        sampler.sample(np.arange(len(world))),
        graphs_from_contexts(served_contexts(tmp_path, world)),
    )
