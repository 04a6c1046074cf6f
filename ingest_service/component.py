"""The consumer as a service: health from the shared bootstrap, the loop as its work, and a
drain that finishes the batch in hand, checkpoints it and gives the leases back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from aegis.v1 import router_pb2_grpc
from aegis_runtime.channels import service_channel
from aegis_runtime.server import ServiceBinding
from aegis_runtime.tls import TlsIdentity
from ingest_service.clients import make_clients
from ingest_service.consumer import Consumer
from ingest_service.settings import IngestSettings


class IngestComponent:
    """Serves health only; the work is the consume loop started with the component."""

    def __init__(self, settings: IngestSettings, tls: TlsIdentity | None = None) -> None:
        self.settings = settings
        self._tls = tls
        self._stop = asyncio.Event()
        self._channel: grpc.aio.Channel | None = None
        self._task: asyncio.Task[None] | None = None
        self.consumer: Consumer | None = None

    def bindings(self) -> Sequence[ServiceBinding]:
        return []

    async def start(self) -> None:
        kinesis, dynamodb = make_clients(self.settings)
        # The mesh's channel: each Score traced (its trace id lands in the audit record),
        # round_robin over the router's tasks, quick reconnection after a router restart;
        # mutual TLS as the ingest identity when the process has one.
        self._channel = service_channel(self.settings.router_addr, tls=self._tls, peer="router")
        self.consumer = Consumer(
            self.settings, kinesis, dynamodb, router_pb2_grpc.RouterServiceStub(self._channel)
        )
        self._task = asyncio.create_task(self.consumer.run(self._stop))

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        if self._channel is not None:
            await self._channel.close()
