"""Deterministic replay of an audited decision: its stored event and context through the
agents and the router's own combination and policy (router_service.scoring.Scorer.decide),
at the recorded versions or at the current ones."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc

from aegis.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from aegis_domain.convert import enum_name, signal_from_proto, velocity_from_proto
from aegis_domain.types import AgentSignal, SignalStatus, Velocity
from aegis_runtime.lanes import AGENT_HEADER
from router_service.deadline import Deadline
from router_service.fanout import assess_all, assess_request
from router_service.scoring import COMBINER, Scorer, thresholds_from_proto

# A failure the agent did not choose (a deadline, a crash, a network): replayed as recorded,
# for it is not a function of the event and context.
_ENVIRONMENTAL = frozenset({SignalStatus.TIMEOUT, SignalStatus.ERROR, SignalStatus.UNAVAILABLE})


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A version that differs between the recorded decision and what runs now."""

    component: str
    recorded: str
    current: str


@dataclass(frozen=True, slots=True)
class Difference:
    """One field of the decision that the replay does not reproduce."""

    field: str
    recorded: str
    replayed: str


@dataclass(frozen=True, slots=True)
class ReplayResult:
    decision_id: str
    current: bool
    mismatches: list[Mismatch]
    replayed: common_pb2.Decision
    differences: list[Difference]

    @property
    def identical(self) -> bool:
        return not self.differences


async def running_versions(
    stubs: Mapping[str, agent_pb2_grpc.AgentServiceStub], timeout_s: float = 5.0
) -> dict[str, str]:
    """Agent name -> the model version it runs now (Describe); an agent that does not
    answer is left out."""

    async def describe(name: str) -> tuple[str, str | None]:
        try:
            # Named: an agent host at the address serves several agents.
            reply = await stubs[name].Describe(
                agent_pb2.DescribeRequest(), timeout=timeout_s, metadata=((AGENT_HEADER, name),)
            )
        except grpc.aio.AioRpcError:
            return name, None
        return name, reply.model_version

    answers = await asyncio.gather(*(describe(name) for name in stubs))
    return {name: version for name, version in answers if version is not None}


def context_was_available(record: common_pb2.DecisionRecord) -> bool:
    """Whether the router had the context: the audit service always states its velocity
    window, and the router records an empty context when it had none."""
    return record.context.velocity.window_seconds > 0


def version_mismatches(
    recorded: common_pb2.Decision, scorer: Scorer, agent_versions: Mapping[str, str]
) -> list[Mismatch]:
    """Policy, combiner and every agent: recorded version against the running one. An agent
    that answered without a version (no model) must still have none."""
    found = []
    if recorded.policy_version != scorer.policy.version:
        found.append(Mismatch("policy", recorded.policy_version, scorer.policy.version))
    current_combiner = scorer.combiner.version if scorer.combiner is not None else ""
    if recorded.model_versions.get(COMBINER, "") != current_combiner:
        found.append(Mismatch(COMBINER, recorded.model_versions.get(COMBINER, ""),
                              current_combiner))
    recorded_signals = {s.agent: s for s in recorded.signals}
    for name in sorted(recorded_signals.keys() | agent_versions.keys()):
        signal = recorded_signals.get(name)
        if signal is not None and signal.status in _ENVIRONMENTAL:
            continue  # replayed as recorded, whatever runs now
        if signal is None or name not in agent_versions:
            found.append(Mismatch(f"agent {name}",
                                  "in the decision" if signal is not None else "absent",
                                  "running" if name in agent_versions else "not answering"))
        elif signal.model_version != agent_versions[name]:
            found.append(Mismatch(f"agent {name}", signal.model_version, agent_versions[name]))
    return found


async def replay(
    record: common_pb2.DecisionRecord, scorer: Scorer, agent_versions: Mapping[str, str],
    *, current: bool, deadline_s: float = 10.0,
) -> ReplayResult:
    """Re-run the decision. At the recorded versions (`current` False) the agents that
    failed for reasons of their environment keep their recorded signal and the others are
    asked again, and the policy acts at the thresholds recorded; at the current versions
    every agent is asked, and the policy acts at its calibration thresholds."""
    recorded = record.decision
    mismatches = version_mismatches(recorded, scorer, agent_versions)
    kept: dict[str, AgentSignal] = {}
    if not current:
        kept = {s.agent: signal_from_proto(s) for s in recorded.signals
                if SignalStatus(s.status) in _ENVIRONMENTAL}
    clients = [c for c in scorer.agents if c.entry.name not in kept]
    asked = await assess_all(
        clients, assess_request(record.event, record.context.SerializeToString()),
        Deadline.after(deadline_s), 0.0,
    )
    by_name = {s.agent: s for s in asked} | kept
    signals = [by_name[c.entry.name] for c in scorer.agents]
    # At the recorded versions, the thresholds recorded (those recent traffic gave then);
    # at the current ones, or for a record made before decisions kept them, the running
    # policy's calibration thresholds: what a version would decide, not today's traffic.
    thresholds = (thresholds_from_proto(recorded.thresholds)
                  if not current and recorded.HasField("thresholds")
                  else scorer.policy.thresholds)
    available = context_was_available(record)
    velocity = velocity_from_proto(record.context.velocity) if available else Velocity()
    replayed = scorer.decide(record.event, velocity, available, signals, thresholds)
    return ReplayResult(recorded.decision_id, current, mismatches, replayed,
                        differences(recorded, replayed))


def differences(recorded: common_pb2.Decision, replayed: common_pb2.Decision) -> list[Difference]:
    """What the decision is made of (not its ids, times or latencies), field by field."""
    found = []
    if recorded.action != replayed.action:
        found.append(Difference("action", enum_name(common_pb2.Action, recorded.action),
                                enum_name(common_pb2.Action, replayed.action)))
    found += [
        Difference(name, repr(getattr(recorded, name)), repr(getattr(replayed, name)))
        for name in ("risk", "confidence", "disagreement")
        if getattr(recorded, name) != getattr(replayed, name)
    ]
    for name, before, after in (
        ("reasons", _reasons(recorded.reasons), _reasons(replayed.reasons)),
        ("degraded_agents", list(recorded.degraded_agents), list(replayed.degraded_agents)),
        ("drivers", list(recorded.drivers), list(replayed.drivers)),
    ):
        if before != after:
            found.append(Difference(name, repr(before), repr(after)))
    replayed_signals = {s.agent: s for s in replayed.signals}
    for signal in recorded.signals:
        again = replayed_signals.get(signal.agent)
        was, now = _signal(signal), _signal(again) if again else None
        if was != now:
            found.append(Difference(f"signals[{signal.agent}]", repr(was), repr(now)))
    return found


def _reasons(reasons: Sequence[common_pb2.Reason]) -> list[tuple[str, str, float]]:
    return [(r.code, r.message, r.weight) for r in reasons]


def _signal(s: common_pb2.AgentSignal) -> tuple[object, ...]:
    return (enum_name(common_pb2.SignalStatus, s.status), s.risk, s.confidence, _reasons(s.reasons),
            s.model_version)
