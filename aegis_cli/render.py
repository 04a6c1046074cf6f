"""Readable text for people: decisions, agent signals, audit verification, replay summaries."""

from __future__ import annotations

from aegis.v1 import agent_pb2, audit_pb2
from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import enum_name
from router_service.client.summary import ReplaySummary, action_name, status_name


def decision_text(decision: pb.Decision) -> str:
    """The action and its numbers first, then reasons, each agent's signal, provenance."""
    lines = [
        f"{action_name(decision.action)}  risk {decision.risk:.3f}  "
        f"confidence {decision.confidence:.3f}  disagreement {decision.disagreement:.3f}",
        f"decision {decision.decision_id}  event {decision.event_id}",
    ]
    if decision.drivers:
        lines.append("why:")
        lines += [f"  - {fact}" for fact in decision.drivers]
    for reason in decision.reasons:
        lines.append(f"  reason {reason.code}: {reason.message}")
    lines.append("agents:")
    lines += ["  " + signal_line(signal) for signal in decision.signals]
    if decision.degraded_agents:
        lines.append(f"degraded: {', '.join(decision.degraded_agents)}")
    if decision.HasField("thresholds"):
        t = decision.thresholds
        source = (f"from {t.window_decisions} recent decisions" if t.window_decisions
                  else "from the calibration world")
        lines.append(f"thresholds: challenge {t.challenge:.3f}  block {t.block_temporary:.3f}  "
                     f"escalate above {t.escalate_above:.3f}  ({source})")
    lines.append(
        f"policy {decision.policy_version or '-'}  latency {decision.latency_ms:.1f} ms  "
        f"audit {decision.audit_ref or '-'}  trace {decision.trace_id or '-'}"
    )
    return "\n".join(lines)


def signal_line(signal: pb.AgentSignal) -> str:
    """One line per signal: agent, status, risk and confidence, and why."""
    text = f"{signal.agent:<10} {status_name(signal.status):<11}"
    if signal.status == pb.SIGNAL_STATUS_OK:
        text += f" risk {signal.risk:.3f}  confidence {signal.confidence:.3f}"
    text += f"  {signal.latency_ms:.1f} ms"
    if signal.model_version:
        text += f"  model {signal.model_version}"
    codes = [reason.code for reason in signal.reasons]
    if codes:
        text += f"  [{', '.join(codes)}]"
    if signal.detail:
        text += f"  ({signal.detail})"
    return text


def signal_text(signal: pb.AgentSignal) -> str:
    """One signal in full: its line, then every reason with its weight."""
    lines = [signal_line(signal)]
    lines += [f"  reason {r.code} ({r.weight:+.3f}): {r.message}" for r in signal.reasons]
    return "\n".join(lines)


def describe_text(reply: agent_pb2.DescribeResponse) -> str:
    """An agent's name, state, model version, description and features."""
    state = enum_name(agent_pb2.AgentState, reply.state)
    lines = [f"{reply.name}  {state}  model {reply.model_version or '-'}"]
    if reply.description:
        lines.append(reply.description)
    if reply.features:
        lines.append(f"features: {', '.join(reply.features)}")
    return "\n".join(lines)


def verify_text(reply: audit_pb2.VerifyResponse) -> str:
    """ok or NOT OK with what was checked, then one line per problem."""
    verdict = "ok" if reply.ok else f"NOT OK: {len(reply.problems)} problems"
    lines = [
        f"{verdict} ({reply.records_checked} records in {reply.segments_checked} segments)"
    ]
    lines += [f"  {p.kind} at {p.location}: {p.detail}" for p in reply.problems]
    return "\n".join(lines)


def summary_text(summary: ReplaySummary) -> str:
    """The replay summary for people: totals, actions, latency, agents, errors, truth."""
    data = summary.to_json()
    lines = [
        f"rows {summary.rows}  decisions {summary.decisions}  failed {summary.failed}  "
        f"without context {summary.without_context}  "
        f"required agent missing {summary.required_agent_missing}  "
        f"in {summary.elapsed_s:.1f} s ({_number(data['throughput_per_s'])} decisions/s)"
    ]
    if summary.actions:
        lines.append("actions:  " + _counts(summary.actions))
    latency = data["latency_ms"]
    if summary.latency.count:
        lines.append(
            f"latency:  p50 {_number(latency['p50'])} ms  p99 {_number(latency['p99'])} ms  "
            f"max {_number(latency['max'])} ms (router-measured)"
        )
    for agent, counts in sorted(summary.signal_statuses.items()):
        lines.append(f"agent {agent:<10} " + _counts(counts))
    if summary.errors:
        lines.append("errors:   " + _counts(summary.errors))
    for truth, counts in sorted(summary.actions_by_truth.items()):
        lines.append(f"truth {truth:<16} " + _counts(counts))
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return "  ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
