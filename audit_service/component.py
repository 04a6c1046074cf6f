"""The audit service as a hosted component: its store, its servicer, its lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aegis.v1 import audit_pb2, audit_pb2_grpc
from aegis_runtime.server import ServiceBinding
from audit_service import instruments
from audit_service.embedded.store import EmbeddedAuditStore
from audit_service.servicer import AuditServicer
from audit_service.settings import AuditSettings
from audit_service.storage import AuditStore

log = logging.getLogger(__name__)

SERVICE_NAME = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name


def make_store(settings: AuditSettings) -> AuditStore:
    """The backend the settings name."""
    match settings.backend:
        case "embedded":
            return EmbeddedAuditStore(settings)
        case "aws":
            # Imported here: only the audit image's `aws` extra brings boto3.
            from audit_service.aws.store import AwsAuditStore

            return AwsAuditStore(settings)
    raise ValueError(f"unknown audit backend {settings.backend!r}")


class AuditComponent:
    """Opens and recovers the store before SERVING; closes it after the drain."""

    def __init__(self, settings: AuditSettings, store: AuditStore | None = None) -> None:
        self.store = store if store is not None else make_store(settings)
        self.servicer = AuditServicer(self.store, settings.served_context_bytes)
        self._interval_s = settings.review_queue_interval_s
        self._queue_watch: asyncio.Task[None] | None = None

    def bindings(self) -> Sequence[ServiceBinding]:
        return [
            ServiceBinding(
                SERVICE_NAME,
                lambda server: audit_pb2_grpc.add_AuditServiceServicer_to_server(
                    self.servicer, server
                ),
            )
        ]

    async def start(self) -> None:
        await self.store.start()
        await instruments.read_review_queue(self.store)
        self._queue_watch = asyncio.create_task(self._watch_review_queue())

    async def _watch_review_queue(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await instruments.read_review_queue(self.store)
            except Exception:
                # The gauges keep their last reading; the store's own failures surface in
                # health and in the calls that need it.
                log.warning("cannot read the review queue", exc_info=True)

    def drain(self) -> None:
        self.servicer.lanes.drain()

    async def close(self) -> None:
        if self._queue_watch is not None:
            self._queue_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._queue_watch
        await self.store.close()

    async def failed(self) -> str:
        return await self.store.failed()

    async def recovered(self) -> None:
        await self.store.recovered()
