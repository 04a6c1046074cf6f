"""Starts a real mesh in-process for service tests: audit, agents and router on free ports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from aegis.v1 import agent_pb2_grpc, audit_pb2_grpc, router_pb2_grpc
from aegis_domain.registry import AgentEntry, Registry
from aegis_runtime.server import RunningServer, ServiceBinding
from aegis_runtime.settings import ServiceSettings
from agent_services.base import Agent
from agent_services.host import AgentComponent, AgentHostComponent, agent_service_binding
from audit_service.component import AuditComponent
from audit_service.settings import AuditSettings
from router_service.combine import Combiner
from router_service.component import RouterComponent
from router_service.policy import load_policy
from router_service.settings import DEFAULT_POLICY, RouterSettings

# Nothing listens on port 1 (privileged): calls there fail at once with UNAVAILABLE.
DOWN_ADDRESS = "127.0.0.1:1"


class ServicerComponent:
    """Hosts a hand-written AgentService servicer (a hanging or misbehaving agent)."""

    def __init__(self, servicer: agent_pb2_grpc.AgentServiceServicer) -> None:
        self.servicer = servicer

    def bindings(self) -> Sequence[ServiceBinding]:
        return [agent_service_binding(self.servicer)]

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def entry(name: str, *, deadline_ms: int = 2_000, required: bool = False, weight: float = 1.0):
    """A registry entry; its port is never used (tests pass real addresses) but must be unique."""
    return AgentEntry(
        name=name, module=f"tests.{name}", port=40_000 + sum(map(ord, name)),
        deadline_ms=deadline_ms, weight=weight,
        required=required, cpu=256, memory_mib=512, min_tasks=1, max_tasks=1,
    )


def local(**overrides) -> ServiceSettings:
    return ServiceSettings(port=0, grace_period_s=1.0, log_format="text", **overrides)


@dataclass
class Mesh:
    router: RunningServer
    audit: RunningServer
    agents: dict[str, RunningServer] = field(default_factory=dict)
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    def _channel(self, port: int) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.channels.append(channel)
        return channel

    def router_stub(self) -> router_pb2_grpc.RouterServiceStub:
        return router_pb2_grpc.RouterServiceStub(self._channel(self.router.port))

    def audit_stub(self) -> audit_pb2_grpc.AuditServiceStub:
        return audit_pb2_grpc.AuditServiceStub(self._channel(self.audit.port))

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        servers = [self.router, *self.agents.values(), self.audit]
        # The router slot may still hold the audit; hosted agents share one server.
        for server in dict.fromkeys(servers):
            await server.stop(0.5)


async def start_mesh(
    tmp_path: Path,
    agents: Mapping[str, tuple[AgentEntry, Agent | agent_pb2_grpc.AgentServiceServicer | None]],
    *,
    policy_path: Path = DEFAULT_POLICY,
    combiner: Combiner | None = None,
    hosted: Sequence[str] = (),
    **router_settings,
) -> Mesh:
    """`agents`: name -> (registry entry, an Agent, a raw servicer, or None for a down agent);
    `combiner`: the router's learned combiner (none: log-odds pool); `hosted`: agents (Agents)
    served together by one agent host, at one address."""
    audit = RunningServer(
        AuditComponent(AuditSettings(port=0, data_dir=tmp_path / "audit", log_format="text")),
        local(),
    )
    await audit.start()
    mesh = Mesh(router=audit, audit=audit)  # the router slot is filled below
    try:
        await _start_agents_and_router(
            mesh, agents, policy_path, router_settings, combiner, hosted
        )
    except BaseException:
        await mesh.close()
        raise
    return mesh


async def _start_agents_and_router(
    mesh: Mesh,
    agents: Mapping[str, tuple[AgentEntry, Agent | agent_pb2_grpc.AgentServiceServicer | None]],
    policy_path: Path,
    router_settings: dict,
    combiner: Combiner | None,
    hosted: Sequence[str],
) -> None:
    audit = mesh.audit
    mesh_agents = mesh.agents
    addresses: dict[str, str] = {}
    if hosted:
        host = RunningServer(
            AgentHostComponent([agents[name][1] for name in hosted]), local()  # type: ignore[misc]
        )
        await host.start()
        for name in hosted:
            mesh_agents[name] = host
            addresses[name] = f"127.0.0.1:{host.port}"
    for name, (_, impl) in agents.items():
        if name in hosted:
            continue
        if impl is None:
            addresses[name] = DOWN_ADDRESS
            continue
        component = (
            AgentComponent(impl) if isinstance(impl, Agent) else ServicerComponent(impl)
        )
        server = RunningServer(component, local())
        mesh_agents[name] = server
        await server.start()
        addresses[name] = f"127.0.0.1:{server.port}"
    # The live 40 ms context cap is a production figure: a busy test machine passes it now
    # and then, and a test that is not about the cap would see CONTEXT_UNAVAILABLE.
    router_settings = {"context_timeout_ms": 1_000, **router_settings}
    settings = RouterSettings(
        port=0,
        audit_addr=f"127.0.0.1:{audit.port}",
        agent_addrs=addresses,
        policy_path=policy_path,
        grace_period_s=1.0,
        startup_timeout_s=5.0,
        **router_settings,
    )
    registry = Registry(agents=tuple(e for e, _ in agents.values()))
    mesh.router = RunningServer(
        RouterComponent(settings, registry, load_policy(policy_path), combiner), settings
    )
    await mesh.router.start()
