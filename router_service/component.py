"""The router as a hosted component: channels to audit and agents, the policy, the servicer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from aegis.v1 import router_pb2, router_pb2_grpc
from aegis_domain.registry import Registry
from aegis_runtime.channels import service_channel
from aegis_runtime.server import ServiceBinding
from aegis_runtime.tls import TlsIdentity
from router_service.builder import build_scorer_on_channels
from router_service.combine import Combiner
from router_service.policy import Policy
from router_service.servicer import RouterServicer
from router_service.settings import RouterSettings


class RouterComponent:
    """Build inside the running event loop: aio channels belong to the loop that made them."""

    def __init__(
        self, settings: RouterSettings, registry: Registry, policy: Policy,
        combiner: Combiner | None = None, tls: TlsIdentity | None = None,
    ) -> None:
        self.settings = settings
        # The scorer traces its batch calls itself (telemetry.batch_call_span).
        self.audit_channel = service_channel(
            settings.audit_addr, tls=tls, peer="audit", intercepted=False
        )
        self.channels = [self.audit_channel]
        agents: dict[str, grpc.aio.Channel] = {}
        # Agents at one address are one agent host (agent_services.host): one channel.
        by_address: dict[str, grpc.aio.Channel] = {}
        for entry in registry.agents:
            address = settings.agent_address(entry.name, entry.port)
            if address not in by_address:
                by_address[address] = service_channel(
                    address, tls=tls, peer=entry.name, intercepted=False
                )
                self.channels.append(by_address[address])
            agents[entry.name] = by_address[address]
        self.agent_channels = agents
        self.scorer = build_scorer_on_channels(
            settings, registry, policy, self.audit_channel, agents, combiner
        )
        self.servicer = RouterServicer(self.scorer)

    def bindings(self) -> Sequence[ServiceBinding]:
        return [
            ServiceBinding(
                router_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name,
                lambda server: router_pb2_grpc.add_RouterServiceServicer_to_server(
                    self.servicer, server
                ),
            )
        ]

    async def start(self) -> None:
        """SERVING only once audit answers: without it no decision can be made (invariant 1).
        Agents may come later; until then their signals are recorded as UNAVAILABLE."""
        try:
            await asyncio.wait_for(
                self.audit_channel.channel_ready(), self.settings.startup_timeout_s
            )
        except TimeoutError:
            raise RuntimeError(
                f"audit service at {self.settings.audit_addr} not reachable after "
                f"{self.settings.startup_timeout_s} s"
            ) from None
        # Every agent connected, or found down, before SERVING: otherwise the first Scores pay
        # four connection set-ups inside their agents' deadlines (and timed out doing so).
        # A down agent is not waited for: its signals are UNAVAILABLE until it comes.
        settling = [asyncio.create_task(_settled(c)) for c in set(self.agent_channels.values())]
        if settling:
            _, unsettled = await asyncio.wait(settling, timeout=self.settings.startup_timeout_s)
            for task in unsettled:
                task.cancel()

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


async def _settled(channel: grpc.aio.Channel) -> None:
    """Returns once `channel` has connected, or failed to (a refused connection)."""
    state = channel.get_state(try_to_connect=True)
    while state not in (grpc.ChannelConnectivity.READY,
                        grpc.ChannelConnectivity.TRANSIENT_FAILURE):
        await channel.wait_for_state_change(state)
        state = channel.get_state(try_to_connect=True)
