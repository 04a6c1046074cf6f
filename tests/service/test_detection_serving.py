"""One feature path: what training computes offline is what the served agent computes from the
real audit service's context, login by login, whatever decisions the mesh recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from aegis.v1 import audit_pb2, common_pb2, router_pb2
from aegis_domain.convert import context_from_proto, event_from_proto
from aegis_domain.types import AgentSignal, LoginContext
from aegis_lab.contexts import offline_contexts
from aegis_lab.training import detection
from aegis_lab.training.dataset import Split, build
from aegis_lab.world import WorldConfig, generate
from agent_services.detection import DetectionAgent
from agent_services.detection_features import DetectionFeatures
from audit_service.settings import AuditSettings
from tests.service.mesh import entry, start_mesh

pytest.importorskip("xgboost")


def train_tiny_model(model_dir: Path) -> None:
    """A real (small) detection artifact, trained as `aegis train` trains it."""
    world = WorldConfig(users=60, events=3_000, seed=5, attack_share=0.1)
    data = build(world, AuditSettings().context_bounds(),
                 Split(warmup_days=0, holdout_share=0.5, combiner_legit=0))
    params = detection.DetectionParams(rounds=8, threads=1)
    trained = detection.train(data, params, seed=1)
    detection.save(model_dir, trained, data, params, world={"seed": world.seed})


def test_served_features_and_signals_equal_the_offline_ones(tmp_path: Path) -> None:
    model_dir = tmp_path / "models" / "detection"
    train_tiny_model(model_dir)
    # Recent, so that Score accepts the logins; few users, so that they share networks.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    world = [g.event for g in generate(
        WorldConfig(users=12, events=240, seed=21, start=start, days=2, attack_share=0.15)
    )]
    offline = list(offline_contexts(
        [event_from_proto(m) for m in world], AuditSettings().context_bounds()
    ))
    features = DetectionFeatures()
    offline_agent = DetectionAgent(model_dir)
    offline_agent.load()

    async def served() -> list[tuple[LoginContext, common_pb2.Decision]]:
        # Generous deadlines: this compares features, and a context or signal lost to a busy
        # machine would make the comparison fail for the wrong reason.
        mesh = await start_mesh(
            tmp_path,
            {"detection": (entry("detection", deadline_ms=5_000), DetectionAgent(model_dir))},
            max_event_age_s=10 * 86_400, context_timeout_ms=5_000, default_deadline_ms=10_000,
        )
        try:
            audit, router = mesh.audit_stub(), mesh.router_stub()
            results = []
            for message in world:
                reply = await audit.GetContext(audit_pb2.GetContextRequest(
                    user_id=message.user_id, device_id=message.device_id, ip=message.ip,
                    asn=message.asn, as_of=message.timestamp,
                ))
                scored = await router.Score(router_pb2.ScoreRequest(event=message))
                results.append((context_from_proto(reply.context), scored.decision))
            return results
        finally:
            await mesh.close()

    results = asyncio.run(served())

    def signal_of(decision: common_pb2.Decision) -> common_pb2.AgentSignal:
        (signal,) = [s for s in decision.signals if s.agent == "detection"]
        return signal

    for number, ((event, offline_context), (served_context, decision)) in enumerate(
        zip(offline, results, strict=True)
    ):
        np.testing.assert_array_equal(
            features.vector(event, served_context), features.vector(event, offline_context),
            err_msg=f"login {number}",
        )
        expected: AgentSignal = offline_agent.assess(event, offline_context)
        served_signal = signal_of(decision)
        assert served_signal.risk == expected.risk, number
        assert [r.message for r in served_signal.reasons] == [r.message for r in expected.reasons]
    # The mesh decided for real (not every login allowed), and history and neighbours were
    # there to compare: identical features despite decisions the offline replay never saw.
    assert {d.action for _, d in results} - {common_pb2.ACTION_ALLOW}
    assert sum(len(c.history) for c, _ in results) > len(world)
    assert any(c.neighbors for c, _ in results)



def test_a_batch_gets_the_signals_of_one_assess_each(tmp_path: Path) -> None:
    model_dir = tmp_path / "detection"
    train_tiny_model(model_dir)
    world = [g.event for g in generate(WorldConfig(users=12, events=200, seed=5,
                                                   attack_share=0.2))]
    requests = list(offline_contexts(
        [event_from_proto(m) for m in world], AuditSettings().context_bounds()
    ))
    agent = DetectionAgent(model_dir)
    agent.load()

    def meaning(signal: AgentSignal) -> tuple[object, ...]:
        return (signal.status, signal.risk, signal.confidence,
                [(r.code, r.message, r.weight) for r in signal.reasons])

    batched = [meaning(s) for s in agent.assess_batch(requests)]
    alone = [meaning(agent.assess(event, context)) for event, context in requests]
    assert batched == alone
    assert len({m[1] for m in alone}) > 5  # the logins differ, and so do their risks
