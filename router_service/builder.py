"""The one assembly of a Scorer: the router's server, `aegis audit replay` and the bench build
theirs here, so that they decide alike."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import grpc

from aegis_domain.registry import Registry
from aegis_runtime.artifacts import ArtifactError
from router_service.combine import Combiner
from router_service.combiner import load_combiner
from router_service.fanout import AgentClient, AgentStub, RawAgentStub
from router_service.host_lane import HostLane
from router_service.policy import Policy, PolicyError, load_policy
from router_service.scoring import AuditClient, RawAuditClient, Scorer
from router_service.settings import RouterSettings

# What an unusable policy or combiner file raises; the message names the file and the problem.
LOAD_ERRORS = (PolicyError, ArtifactError)


def load_rules(
    settings: RouterSettings, policy_path: Path | None = None
) -> tuple[Policy, Combiner | None]:
    """The decision policy (`policy_path`, default the settings') and the learned combiner
    (None when none was trained); LOAD_ERRORS when either is unusable. The policy's budget
    becomes risks by the combiner's calibration table."""
    combiner = load_combiner(settings.combiner_path)
    return load_policy(policy_path or settings.policy_path).within(combiner), combiner


def build_scorer(
    settings: RouterSettings, registry: Registry, policy: Policy, audit: AuditClient,
    agents: Mapping[str, AgentStub], combiner: Combiner | None = None,
) -> Scorer:
    """A Scorer over every registry agent (`agents`: a stub or a direct caller by name)."""
    clients = [
        AgentClient(entry, agents[entry.name], settings.batch_limits())
        for entry in registry.agents
    ]
    return Scorer(settings, policy, audit, clients, combiner)


def build_scorer_on_channels(
    settings: RouterSettings, registry: Registry, policy: Policy, audit: grpc.aio.Channel,
    agents: Mapping[str, grpc.aio.Channel], combiner: Combiner | None = None,
) -> Scorer:
    """A Scorer calling the audit service and every registry agent over these channels."""
    max_age_s = settings.batch_stream_max_age_s if settings.batch_streams else None
    stubs: dict[str, AgentStub] = {}
    # Agents that share a channel share an address: an agent host, which serves them all.
    hosts: dict[grpc.aio.Channel, list[str]] = {}
    for name, channel in agents.items():
        hosts.setdefault(channel, []).append(name)
    for channel, names in hosts.items():
        if len(names) == 1 or max_age_s is None:
            stubs |= {name: RawAgentStub(channel, max_age_s, name) for name in names}
        else:
            lane = HostLane(channel, max_age_s)
            stubs |= {name: lane.agent(name) for name in names}
    return build_scorer(
        settings, registry, policy, RawAuditClient(audit, max_age_s), stubs, combiner
    )
