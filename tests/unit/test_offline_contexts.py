"""The offline builder's GetContext answers exactly as the embedded audit store does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import event_from_proto
from aegis_domain.types import Action, LoginContext, LoginEvent
from aegis_lab.contexts import OfflineContexts, offline_contexts
from aegis_lab.world import WorldConfig, generate
from tests.unit.audit_builders import audit_settings, running_store

# Tight bounds, so that every cut (count, age, scan, neighbours) happens in a small world.
BOUNDS = {
    "history_limit": 6,
    "history_max_age_s": 3 * 86_400.0,
    "neighbor_limit": 3,
    "neighbor_window_s": 2 * 86_400.0,
    "velocity_window_s": 3_600,
    "scan_limit": 12,
}
ACTIONS = (Action.ALLOW, Action.CHALLENGE, Action.ALLOW, Action.BLOCK_TEMPORARY, Action.ESCALATE)


def decision(number: int, event: pb.LoginEvent) -> tuple[pb.DecisionRecord, Action, float]:
    action, risk = ACTIONS[number % len(ACTIONS)], (number % 97) / 97
    record = pb.DecisionRecord(
        decision=pb.Decision(decision_id=f"d-{number}", event_id=event.event_id,
                             action=int(action), risk=risk),
        event=event,
        environment="test",
    )
    return record, action, risk


def test_every_context_equals_the_audit_stores(tmp_path: Path) -> None:
    # Few users, so that devices, addresses and networks are shared and bounds are reached.
    world = [g.event for g in generate(WorldConfig(users=12, events=500, seed=13, days=6))]
    settings = audit_settings(tmp_path, **BOUNDS)

    async def scenario() -> list[tuple[LoginContext, LoginContext]]:
        replay = OfflineContexts(settings.context_bounds())
        pairs = []
        async with running_store(settings) as store:
            for number, message in enumerate(world):
                event = event_from_proto(message)
                served = await store.get_context(
                    event.user_id, event.device_id, event.ip, event.asn, event.timestamp
                )
                pairs.append((replay.context(event), served))
                record, action, risk = decision(number, message)
                await store.record(record)
                replay.record(event, action, risk)
        return pairs

    pairs = asyncio.run(scenario())

    for number, (replayed, served) in enumerate(pairs):
        assert replayed == served, f"event {number}"
    # The comparison covered the cuts, not only empty contexts.
    assert any(served.history_truncated for _, served in pairs)
    assert any(len(served.neighbors) >= BOUNDS["neighbor_limit"] for _, served in pairs)
    assert any(served.velocity.ip_distinct_users > 1 for _, served in pairs)
    assert any(n.flagged for _, served in pairs for n in served.neighbors)


def test_logins_must_come_in_time_order() -> None:
    replay = OfflineContexts(audit_settings(Path("unused")).context_bounds())
    replay.record(LoginEvent(event_id="b", timestamp=200.0, user_id="u", ip="192.0.2.1"))
    with pytest.raises(ValueError, match=r"event a at 100\.0 comes before one already recorded"):
        replay.record(LoginEvent(event_id="a", timestamp=100.0, user_id="u", ip="192.0.2.1"))


def test_a_login_sees_only_logins_strictly_before_it() -> None:
    at = 1_700_000_000.0
    events = [
        LoginEvent(event_id="first", timestamp=at, user_id="u", ip="192.0.2.1",
                   login_successful=True),
        LoginEvent(event_id="same-instant", timestamp=at, user_id="u", ip="192.0.2.1"),
        LoginEvent(event_id="later", timestamp=at + 1, user_id="u", ip="192.0.2.1"),
    ]
    contexts = dict(
        (event.event_id, context)
        for event, context in offline_contexts(events, audit_settings(Path("x")).context_bounds())
    )
    assert contexts["same-instant"].history == []
    assert [p.event.event_id for p in contexts["later"].history] == ["same-instant", "first"]
    assert contexts["later"].velocity.ip_attempts == 2
