"""Server bootstrap shared by every service: health, reflection, interceptors, graceful drain."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aegis_runtime import grpc_metrics, metrics, telemetry
from aegis_runtime.authorization import AuthorizationInterceptor
from aegis_runtime.gc_pauses import measure_gc_pauses
from aegis_runtime.interceptors import RequestContextInterceptor
from aegis_runtime.logging import configure_logging
from aegis_runtime.settings import ServiceSettings
from aegis_runtime.tls import TlsIdentity

log = logging.getLogger(__name__)

# The overall health entry ("") follows the services it hosts.
OVERALL = ""


@dataclass(frozen=True, slots=True)
class ServiceBinding:
    """One gRPC service a component exposes: its full name and how to add it to a server."""

    full_name: str
    add_to_server: Callable[[grpc.aio.Server], None]


class Component(Protocol):
    """What a service hands to the bootstrap: its servicers and its lifecycle."""

    def bindings(self) -> Sequence[ServiceBinding]: ...

    async def start(self) -> None:
        """Load models, open clients: everything that must be done before SERVING."""

    async def close(self) -> None:
        """Release what start() acquired, after the server has drained."""


@runtime_checkable
class FailStop(Protocol):
    """A component that can fail while it runs (a store whose write failed): from then on
    health says NOT_SERVING, so that orchestrators replace it and clients go elsewhere,
    instead of SERVING over a component that refuses every call; SERVING again if it
    recovers by itself."""

    async def failed(self) -> str:
        """Returns, saying why, once the component can no longer serve."""

    async def recovered(self) -> None:
        """Returns once a failed component serves again (never, for one failed for good)."""


@runtime_checkable
class Draining(Protocol):
    """A component with long-lived streams (aegis_runtime.lanes): told when the server starts
    draining, it asks their clients to move on, so that the drain waits for the work sent,
    not for the grace period."""

    def drain(self) -> None: ...


class RunningServer:
    """A started gRPC server hosting one component, with its health state."""

    def __init__(
        self, component: Component, settings: ServiceSettings, tls: TlsIdentity | None = None
    ) -> None:
        self.component = component
        self.settings = settings
        self.tls = tls
        self.health = health.aio.HealthServicer()
        # Outermost first: a refused call is still traced and access-logged.
        authorization = [AuthorizationInterceptor()] if tls is not None else []
        self.server = grpc.aio.server(
            interceptors=[
                *telemetry.server_interceptors(),
                *grpc_metrics.server_interceptors(settings.slow_call_ms / 1000),
                RequestContextInterceptor(), *authorization,
            ],
            options=[
                ("grpc.max_connection_age_ms", int(settings.max_connection_age_s * 1000)),
                # Lets in-flight calls finish on an aged connection before it is closed.
                ("grpc.max_connection_age_grace_ms", int(settings.grace_period_s * 1000)),
                ("grpc.so_reuseport", 0),
            ],
        )
        self.names = [b.full_name for b in component.bindings()]
        for binding in component.bindings():
            binding.add_to_server(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*self.names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME],
            self.server,
        )
        self.port = 0
        # Set once stop() has begun: health says NOT_SERVING and in-flight calls are draining.
        self.draining = asyncio.Event()
        self._fail_watch: asyncio.Task[None] | None = None

    async def start(self, *, freeze_heap: bool = False) -> None:
        """Listen (health NOT_SERVING), start the component, then SERVING."""
        await self.listen()
        await self.ready(freeze_heap=freeze_heap)

    async def listen(self) -> None:
        """Bind and answer health checks with NOT_SERVING while the component starts. With
        TLS, only a TLS port is bound: plaintext callers are refused at the handshake."""
        if self.tls is None:
            self.port = self.server.add_insecure_port(self.settings.address)
        else:
            self.port = self.server.add_secure_port(
                self.settings.address, self.tls.server_credentials()
            )
        if self.port == 0:
            raise OSError(f"cannot bind {self.settings.address}")
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.start()

    async def ready(self, *, freeze_heap: bool = False) -> None:
        """Start the component (load models, warm clients), then report SERVING.
        `freeze_heap`: first freeze what start-up made (freeze_startup_objects), as a service
        process does; a test hosting many servers in one process does not."""
        await self.component.start()
        if freeze_heap:
            freeze_startup_objects()
        await self._set_all(health_pb2.HealthCheckResponse.SERVING)
        if isinstance(self.component, FailStop):
            self._fail_watch = asyncio.create_task(self._follow_component_health(self.component))
        log.info("serving", extra={"port": self.port, "services": self.names})

    async def _follow_component_health(self, component: FailStop) -> None:
        while True:
            why = await component.failed()
            log.error("not serving", extra={"reason": why})
            await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
            await component.recovered()
            log.info("serving again")
            await self._set_all(health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_s: float | None = None) -> None:
        """NOT_SERVING first (load balancers stop sending), then drain in-flight calls."""
        grace = self.settings.grace_period_s if grace_s is None else grace_s
        if self._fail_watch is not None:
            self._fail_watch.cancel()
        await self.health.enter_graceful_shutdown()
        self.draining.set()
        if isinstance(self.component, Draining):
            self.component.drain()
        await self.server.stop(grace)
        await self.component.close()
        log.info("stopped", extra={"port": self.port})

    async def _set_all(self, status: int) -> None:
        for name in (OVERALL, *self.names):
            await self.health.set(name, status)


def freeze_startup_objects() -> None:
    """Move what start-up made (modules, models, warmed caches) out of the collector's reach:
    a full collection traverses every tracked object, and with them it stopped a service for
    100-300 ms now and then while serving (the audit service's, the network agent's), far past a
    Score's deadline. What serving allocates is still collected as before."""
    gc.collect()
    gc.freeze()


async def run_until_signal(
    make_component: Callable[[], Component], settings: ServiceSettings,
    tls: TlsIdentity | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then drain within the grace period.

    The component is made inside the event loop: aio channels belong to the loop that made them.
    """
    running = RunningServer(make_component(), settings, tls)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await running.start(freeze_heap=True)
    await stop.wait()
    log.info("draining", extra={"grace_s": settings.grace_period_s})
    await running.stop()


def serve(
    service: str, settings: ServiceSettings, make_component: Callable[[], Component],
    tls: TlsIdentity | None = None,
) -> None:
    """The whole life of a service process: logging, tracing, metrics, serve (mutual TLS when
    `tls` is given), drain."""
    configure_logging(service, settings.log_level, settings.log_format)
    telemetry.configure_tracing(service)
    metrics.configure_metrics(service, settings.host, settings.metrics_port)
    measure_gc_pauses()
    with contextlib.suppress(KeyboardInterrupt), service_loop() as loop:
        loop.run(run_until_signal(make_component, settings, tls))


def service_loop() -> asyncio.Runner:
    """The event loop a service runs on: uvloop's. Most of a service's CPU is per gRPC message
    and per wake-up (grpc.aio's poller thread hands each completion to the loop through a
    socket), and uvloop runs that wake-up and the callbacks it schedules in C, where asyncio's
    selector loop runs them in Python (figures in docs/benchmarks.md)."""
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)
