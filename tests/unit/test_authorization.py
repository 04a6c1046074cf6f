"""The authorisation table covers every RPC, and identities parse to roles strictly."""

from __future__ import annotations

import pytest

from aegis.v1 import agent_pb2, audit_pb2, router_pb2
from aegis_domain.authorization import AUTHORISED, Role, may_call, role_of, spiffe_id


def test_every_rpc_of_the_protos_has_a_row_and_no_row_is_stale() -> None:
    methods = {
        f"/{service.full_name}/{method.name}"
        for module in (router_pb2, agent_pb2, audit_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert set(AUTHORISED) == methods


@pytest.mark.parametrize(
    ("identity", "role"),
    [
        ("spiffe://aegis/router", Role.ROUTER),
        ("spiffe://aegis/agent/geo", Role.AGENT),
        ("spiffe://aegis/reviewer/ana", Role.REVIEWER),
        ("spiffe://aegis/operator", Role.OPERATOR),
        ("spiffe://elsewhere/router", None),
        ("spiffe://aegis/router/extra", None),
        ("spiffe://aegis/reviewer", None),
        ("spiffe://aegis/reviewer/", None),
        ("spiffe://aegis/root", None),
        ("https://aegis/router", None),
        ("", None),
    ],
)
def test_an_identity_holds_a_role_only_in_our_trust_domain_and_shape(
    identity: str, role: Role | None
) -> None:
    assert role_of(identity) == role


def test_health_and_reflection_answer_any_of_our_identities_but_not_a_stranger() -> None:
    check = "/grpc.health.v1.Health/Check"
    assert may_call(spiffe_id(Role.CLIENT), check)
    reflection = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
    assert may_call(spiffe_id(Role.AGENT, "geo"), reflection)
    assert not may_call("spiffe://elsewhere/operator", check)


def test_an_unknown_method_is_refused_to_everyone() -> None:
    assert not any(may_call(spiffe_id(role, "x" if role in (Role.AGENT, Role.REVIEWER) else ""),
                            "/aegis.v1.AuditService/DropTable") for role in Role)


def test_named_roles_need_a_name_and_others_take_none() -> None:
    with pytest.raises(ValueError):
        spiffe_id(Role.REVIEWER)
    with pytest.raises(ValueError):
        spiffe_id(Role.ROUTER, "x")


def test_the_stream_consumer_may_score_and_nothing_else() -> None:
    consumer = spiffe_id(Role.INGEST)
    assert role_of(consumer) == Role.INGEST
    allowed = {method for method in AUTHORISED if may_call(consumer, method)}
    assert allowed == {"/aegis.v1.RouterService/Score", "/aegis.v1.RouterService/ScoreStream"}
