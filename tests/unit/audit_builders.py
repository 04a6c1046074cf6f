"""Builders shared by the audit tests (this module has no tests of its own)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import seconds_to_timestamp
from audit_service.embedded.store import EmbeddedAuditStore
from audit_service.settings import AuditSettings

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z: event times in the past, as in a replay


def make_record(
    decision_id: str,
    *,
    user_id: str = "alice",
    ts: float = T0,
    ip: str = "192.0.2.1",
    device_id: str = "dev-alice",
    asn: int = 64500,
    action: int = pb.ACTION_ALLOW,
    risk: float = 0.1,
    success: bool = True,
    country: str = "NO",
) -> pb.DecisionRecord:
    """A valid DecisionRecord for one login; `ts` is the event time (epoch seconds)."""
    return pb.DecisionRecord(
        decision=pb.Decision(
            decision_id=decision_id,
            event_id=f"ev-{decision_id}",
            action=action,
            risk=risk,
            confidence=0.8,
            policy_version="p-1",
            trace_id="0af7651916cd43dd8448eb211c80319c",
        ),
        event=pb.LoginEvent(
            event_id=f"ev-{decision_id}",
            timestamp=seconds_to_timestamp(ts),
            user_id=user_id,
            session_id=f"s-{decision_id}",
            device_id=device_id,
            ip=ip,
            country=country,
            region="Oslo",
            city="Oslo",
            asn=asn,
            user_agent="Mozilla/5.0",
            device_type=pb.DEVICE_TYPE_DESKTOP,
            login_successful=success,
            auth_method=pb.AUTH_METHOD_PASSWORD,
            latitude=59.91,
            longitude=10.75,
        ),
        environment="test",
    )


def audit_settings(data_dir: Path, **overrides: Any) -> AuditSettings:
    return AuditSettings(data_dir=data_dir, environment="test", **overrides)


@contextlib.asynccontextmanager
async def running_store(
    settings: AuditSettings, clock: Callable[[], float] = time.time
) -> AsyncIterator[EmbeddedAuditStore]:
    store = EmbeddedAuditStore(settings, clock=clock)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


def segment_paths(data_dir: Path) -> list[Path]:
    """The segment files of the log, oldest first (one writer: by first seq)."""
    return sorted((data_dir / "audit").rglob("*.jsonl"), key=lambda p: p.name)


def log_lines(data_dir: Path) -> list[bytes]:
    """Every line of the log, in log order, without newlines."""
    return [line for path in segment_paths(data_dir) for line in path.read_bytes().splitlines()]
