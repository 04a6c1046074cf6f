"""The AWS store's health follows its storage: NOT_SERVING while S3 and DynamoDB cannot be
written, SERVING again once they answer; and through outages no acknowledged decision goes
missing. moto's server on loopback, reached through a relay that cuts the connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aegis.v1 import audit_pb2, audit_pb2_grpc
from aegis_runtime.channels import service_channel
from aegis_runtime.errors import ServiceError
from aegis_runtime.server import RunningServer
from audit_service.component import AuditComponent
from audit_service.storage import RecordResult
from tests.service import audit_backends
from tests.service.audit_backends import Backend, make_backend
from tests.service.outage import Outage
from tests.unit.audit_builders import make_record

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


moto_endpoint = audit_backends.moto_endpoint


@pytest.fixture
def outage(moto_endpoint: str) -> Iterator[Outage]:
    relay = Outage(moto_endpoint)
    yield relay
    relay.cut()


@pytest.fixture
def aws(tmp_path: Path, moto_endpoint: str, outage: Outage) -> Backend:
    """A fresh bucket and table, reached through the relay; failing calls give up within a
    second and the store probes every 20 ms while it cannot write."""
    return make_backend("aws", tmp_path, moto_endpoint).with_settings(
        aws_endpoint_url=outage.url, aws_retry_s=1.0, aws_probe_s=0.02,
        port=0, grace_period_s=1.0,
    )


async def _next_status(watch: grpc.aio.UnaryStreamCall, status: int) -> None:
    async for reply in watch:
        if reply.status == status:
            return
    raise AssertionError("the health watch ended")


def test_health_says_not_serving_while_storage_is_out_and_serving_once_back(
    aws: Backend, outage: Outage
) -> None:
    """No Record comes after the outage: the probe alone brings SERVING back (a load
    balancer sends a NOT_SERVING task nothing)."""

    async def scenario() -> list[grpc.StatusCode]:
        server = RunningServer(AuditComponent(aws.settings, aws.store()), aws.settings)
        await server.start()
        codes = []
        try:
            async with service_channel(f"127.0.0.1:{server.port}") as channel:
                audit = audit_pb2_grpc.AuditServiceStub(channel)
                watch = health_pb2_grpc.HealthStub(channel).Watch(
                    health_pb2.HealthCheckRequest(), timeout=30
                )
                await _next_status(watch, SERVING)
                await audit.Record(audit_pb2.RecordRequest(record=make_record("d-1")),
                                   timeout=5)
                outage.cut()
                try:
                    await audit.Record(audit_pb2.RecordRequest(record=make_record("d-2")),
                                       timeout=5)
                except grpc.aio.AioRpcError as error:
                    codes.append(error.code())
                await _next_status(watch, NOT_SERVING)
                outage.restore()
                await _next_status(watch, SERVING)
                watch.cancel()
                await audit.Record(audit_pb2.RecordRequest(record=make_record("d-3")),
                                   timeout=5)
        finally:
            await server.stop(1.0)
        return codes

    assert asyncio.run(scenario()) == [grpc.StatusCode.UNAVAILABLE]


def test_no_acknowledged_decision_goes_missing_through_outages(
    aws: Backend, outage: Outage
) -> None:
    """Waves of concurrent records, the storage cut while each wave is in flight and restored
    after it: whatever was acknowledged is in the log with the reference it was given, and
    the log verifies."""
    waves, per_wave = 4, 12

    async def scenario() -> tuple[dict[str, str], int]:
        acknowledged: dict[str, str] = {}
        async with aws.running() as store:
            for wave in range(waves):
                ids = [f"d-{wave}-{n}" for n in range(per_wave)]
                deadline = time.monotonic() + 2.0
                records = asyncio.gather(
                    *(store.record(make_record(i), deadline) for i in ids),
                    return_exceptions=True,
                )
                # Cut from another thread while the wave is being committed.
                await asyncio.to_thread(outage.cut)
                for decision_id, result in zip(ids, await records, strict=True):
                    if isinstance(result, RecordResult):
                        acknowledged[decision_id] = result.audit_ref
                    else:
                        assert isinstance(result, ServiceError), result
                outage.restore()
                await asyncio.wait_for(store.recovered(), 30)
            # Storage answers: a wave now is acknowledged whole.
            final = await asyncio.gather(*(store.record(make_record(f"e-{n}"))
                                           for n in range(per_wave)))
            acknowledged |= {f"e-{n}": r.audit_ref for n, r in enumerate(final)}
            for decision_id, ref in acknowledged.items():
                found = await store.get_decision(decision_id)
                assert found is not None and found[1] == ref, decision_id
            report = await store.verify()
            assert report.ok, report.problems
        return acknowledged, report.records_checked

    acknowledged, checked = asyncio.run(scenario())
    assert checked >= len(acknowledged) >= per_wave
