"""The rules of a context (aegis_domain.context_rules) on every implementation: both audit
backends and the offline builder (aegis_lab.contexts): bounds, ordering, as_of strictness,
neighbours, velocity."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import event_from_proto
from aegis_domain.types import Action, LinkKind, LoginContext, LoginEvent
from aegis_lab.contexts import OfflineContexts
from audit_service.settings import AuditSettings
from tests.service import audit_backends
from tests.service.audit_backends import Backend, make_backend
from tests.unit.audit_builders import T0, make_record

moto_endpoint = audit_backends.moto_endpoint
OFFLINE = "offline"
# The embedded backend with its in-memory contexts off: every context from the SQLite index.
EMBEDDED_INDEX = "embedded-index"


@pytest.fixture(params=(*audit_backends.BACKENDS, EMBEDDED_INDEX, OFFLINE))
def backend(request: pytest.FixtureRequest, tmp_path: Path, moto_endpoint: str) -> Backend:
    """Every implementation of GetContext: the embedded backend's memory and its index, the
    DynamoDB index, and the offline builder (which keeps only the settings)."""
    if request.param == OFFLINE:
        return Backend(OFFLINE, AuditSettings(data_dir=tmp_path, environment="test"))
    if request.param == EMBEDDED_INDEX:
        embedded = make_backend("embedded", tmp_path, moto_endpoint, context_cache_rows=0)
        return Backend(EMBEDDED_INDEX, embedded.settings)
    return make_backend(request.param, tmp_path, moto_endpoint)

HOUR = 3600.0
DAY = 86_400.0


def context_after(
    backend: Backend,
    records: list[pb.DecisionRecord],
    *,
    user_id: str = "alice",
    device_id: str = "dev-alice",
    ip: str = "192.0.2.1",
    asn: int = 64500,
    as_of: float = T0,
    **settings: Any,
) -> LoginContext:
    if backend.name == OFFLINE:
        return offline_context(
            backend.with_settings(**settings).settings, records,
            LoginEvent(event_id="asked", timestamp=as_of, user_id=user_id, device_id=device_id,
                       ip=ip, asn=asn),
        )

    async def scenario() -> LoginContext:
        async with backend.with_settings(**settings).running() as store:
            for record in records:
                await store.record(record)
            context = await store.get_context(user_id, device_id, ip, asn, as_of)
            if backend.name == "embedded":
                assert store.context_cache_misses == 0, "memory did not answer"
            return context

    return asyncio.run(scenario())


def offline_context(
    settings: AuditSettings, records: list[pb.DecisionRecord], asked: LoginEvent
) -> LoginContext:
    """The offline builder fed the records in time order, as training feeds it a world (it
    is never asked about a time before its latest login, so the later ones stay out)."""
    contexts = OfflineContexts(settings.context_bounds())
    decided = [(event_from_proto(r.event), Action(r.decision.action), r.decision.risk)
               for r in records]
    for event, action, risk in sorted(decided, key=lambda d: d[0].timestamp):
        if event.timestamp <= asked.timestamp:
            contexts.record(event, action, risk)
    return contexts.context(asked)


def test_history_is_most_recent_first_and_strictly_before_as_of(backend: Backend) -> None:
    records = [
        make_record("old", ts=T0 - 3 * HOUR, action=pb.ACTION_CHALLENGE, risk=0.6),
        make_record("newer", ts=T0 - HOUR),
        make_record("same-instant", ts=T0),
        make_record("later", ts=T0 + 1),
        make_record("other-user", user_id="bob", ts=T0 - 10),
    ]
    context = context_after(backend, records)
    assert [p.event.event_id for p in context.history] == ["ev-newer", "ev-old"]
    assert context.history_truncated is False
    old = context.history[1]
    assert (old.action, old.risk) == (Action.CHALLENGE, 0.6)
    # The event comes back whole, as recorded.
    assert old.event.timestamp == T0 - 3 * HOUR
    assert (old.event.ip, old.event.country, old.event.latitude) == ("192.0.2.1", "NO", 59.91)


def test_history_is_bounded_by_count(backend: Backend) -> None:
    records = [make_record(f"d-{i}", ts=T0 - 100 + i) for i in range(5)]
    context = context_after(backend, records, history_limit=3)
    assert [p.event.event_id for p in context.history] == ["ev-d-4", "ev-d-3", "ev-d-2"]
    assert context.history_truncated is True


def test_history_is_bounded_by_age(backend: Backend) -> None:
    records = [make_record("ancient", ts=T0 - 10 * DAY), make_record("recent", ts=T0 - DAY)]
    context = context_after(backend, records, history_max_age_s=2 * DAY)
    assert [p.event.event_id for p in context.history] == ["ev-recent"]
    assert context.history_truncated is True


def test_history_at_its_count_bound_is_not_truncated(backend: Backend) -> None:
    records = [make_record(f"d-{i}", ts=T0 - 100 + i) for i in range(3)]
    context = context_after(backend, records, history_limit=3)
    assert len(context.history) == 3 and context.history_truncated is False


def test_neighbours_share_device_ip_or_asn_and_are_aggregated(backend: Backend) -> None:
    records = [
        # bob: same device twice (one failed + challenged), elsewhere by IP and ASN.
        make_record("b-1", user_id="bob", ts=T0 - 3 * HOUR, ip="198.51.100.9", asn=64999),
        make_record(
            "b-2", user_id="bob", ts=T0 - 2 * HOUR, ip="198.51.100.9", asn=64999,
            success=False, action=pb.ACTION_CHALLENGE, risk=0.7,
        ),
        # carol: same IP (and so same ASN), another device.
        make_record("c-1", user_id="carol", ts=T0 - HOUR, device_id="dev-carol"),
        # dave: same ASN only.
        make_record("d-1", user_id="dave", ts=T0 - 30, device_id="dev-dave", ip="203.0.113.5"),
        # alice herself is never her own neighbour.
        make_record("a-1", ts=T0 - 10),
        # erin: unrelated.
        make_record("e-1", user_id="erin", ts=T0 - 5, device_id="dev-erin", ip="203.0.113.77",
                    asn=65001),
    ]
    context = context_after(backend, records)
    by_link = {
        kind: [(n.user_id, n.logins, n.failures, n.flagged, n.max_risk, n.last_seen)
               for n in context.neighbors if n.link is kind]
        for kind in LinkKind
    }
    assert by_link[LinkKind.DEVICE] == [("bob", 2, 1, 1, 0.7, T0 - 2 * HOUR)]
    assert by_link[LinkKind.IP] == [("carol", 1, 0, 0, 0.1, T0 - HOUR)]
    assert by_link[LinkKind.ASN] == [
        ("dave", 1, 0, 0, 0.1, T0 - 30),
        ("carol", 1, 0, 0, 0.1, T0 - HOUR),
    ]
    assert (context.device_users, context.ip_users, context.asn_users) == (1, 1, 2)


def test_neighbours_are_bounded_per_link_most_recent_first(backend: Backend) -> None:
    records = [make_record(f"u-{i}", user_id=f"user-{i}", ts=T0 - 100 + i) for i in range(4)]
    context = context_after(backend, records, neighbor_limit=2)
    device = [n.user_id for n in context.neighbors if n.link is LinkKind.DEVICE]
    assert device == ["user-3", "user-2"]
    # The counts keep the users the bound left out.
    assert (context.device_users, context.ip_users, context.asn_users) == (4, 4, 4)


def test_neighbours_outside_the_window_or_not_before_as_of_are_left_out(backend: Backend) -> None:
    records = [
        make_record("too-old", user_id="bob", ts=T0 - 3 * DAY),
        make_record("same-instant", user_id="carol", ts=T0),
        make_record("later", user_id="dave", ts=T0 + 5),
        make_record("inside", user_id="erin", ts=T0 - DAY),
    ]
    context = context_after(backend, records, neighbor_window_s=2 * DAY)
    assert {n.user_id for n in context.neighbors} == {"erin"}


def test_missing_link_keys_give_no_neighbours(backend: Backend) -> None:
    records = [
        make_record("b-1", user_id="bob", ts=T0 - 10, device_id="", ip="192.0.2.1", asn=0),
    ]
    context = context_after(backend, records, device_id="", ip="", asn=0)
    assert context.neighbors == []
    assert (context.device_users, context.ip_users, context.asn_users) == (0, 0, 0)
    assert context.velocity.ip_attempts == 0 and context.velocity.device_distinct_users == 0


def test_velocity_counts_the_window_before_as_of(backend: Backend) -> None:
    records = [
        make_record("a-out", ts=T0 - 2 * HOUR, success=False),
        make_record("a-1", ts=T0 - 50 * 60, success=False),
        make_record("a-2", ts=T0 - 10 * 60),
        make_record("a-now", ts=T0, success=False),
        make_record("b-1", user_id="bob", ts=T0 - 20 * 60, success=False, device_id="dev-bob"),
        make_record("c-1", user_id="carol", ts=T0 - 5 * 60, ip="198.51.100.1"),
    ]
    velocity = context_after(backend, records).velocity
    assert (velocity.user_attempts, velocity.user_failures) == (2, 1)
    assert (velocity.ip_attempts, velocity.ip_failures, velocity.ip_distinct_users) == (3, 2, 2)
    # alice and carol on dev-alice within the hour.
    assert velocity.device_distinct_users == 2
    assert velocity.window_seconds == 3600


def test_velocity_window_is_a_setting(backend: Backend) -> None:
    records = [make_record("a-1", ts=T0 - 50 * 60), make_record("a-2", ts=T0 - 10 * 60)]
    velocity = context_after(backend, records, velocity_window_s=1800).velocity
    assert (velocity.user_attempts, velocity.window_seconds) == (1, 1800)


def test_scan_limit_bounds_the_rows_read_per_link(backend: Backend) -> None:
    records = [make_record(f"u-{i}", user_id=f"user-{i}", ts=T0 - 100 + i) for i in range(6)]
    context = context_after(backend, records, scan_limit=3)
    assert context.ip_users == 3
    assert context.velocity.ip_attempts == 3


def test_an_asn_counts_the_countries_its_logins_came_from_in_the_window(
    backend: Backend,
) -> None:
    records = [
        # alice's own login counts: a network's countries are everyone's.
        make_record("a-1", ts=T0 - HOUR, country="NO"),
        make_record("b-1", user_id="bob", ts=T0 - 2 * HOUR, device_id="dev-bob", country="JP"),
        make_record("b-2", user_id="bob", ts=T0 - 90, device_id="dev-bob", country="JP"),
        make_record("c-1", user_id="carol", ts=T0 - 60, device_id="dev-carol", country="US"),
        # No country, another network, too old, not before as_of: none of them count.
        make_record("d-1", user_id="dave", ts=T0 - 30, device_id="dev-dave", country=""),
        make_record("e-1", user_id="erin", ts=T0 - 20, asn=65001, country="BR"),
        make_record("f-1", user_id="fay", ts=T0 - 3 * DAY, country="DE"),
        make_record("g-1", user_id="gus", ts=T0, country="FR"),
    ]
    assert context_after(backend, records, neighbor_window_s=2 * DAY).asn_countries == 3
    # The bound on rows read holds here too: the newest three are dave's, carol's, bob's.
    assert context_after(backend, records, neighbor_window_s=2 * DAY,
                         scan_limit=3).asn_countries == 2
    assert context_after(backend, records, asn=0).asn_countries == 0
