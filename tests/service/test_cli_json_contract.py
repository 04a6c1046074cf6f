"""The `--json` contract scripts rely on: one JSON document per command, every field present
even when zero or empty, numbers as numbers, and enums spelled as the text output spells
them (ALLOW, OK, READY), whichever command prints them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aegis.v1 import agent_pb2_grpc, audit_pb2, audit_pb2_grpc
from aegis.v1 import common_pb2 as pb
from aegis_cli.main import main
from tests.service.test_audit_cli import audit_addr  # noqa: F401 (a fixture)
from tests.service.test_cli_rpc import FakeAgent, FakeAudit, Hosted, router, serving


def printed_json(capsys: pytest.CaptureFixture[str]) -> Any:
    """stdout as one JSON document (json.loads refuses a second one)."""
    return json.loads(capsys.readouterr().out)


def test_score_prints_every_decision_field_with_short_enum_names(
    capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(router()) as address:
        status = main(["score", "--user", "u1", "--ip", "81.166.1.2", "--country", "SE",
                       "--router", address, "--json"])

    decision = printed_json(capsys)
    assert status == 0
    assert set(decision) == {f.name for f in pb.Decision.DESCRIPTOR.fields}
    assert decision["action"] == "CHALLENGE"
    assert (decision["reasons"], decision["degraded_agents"], decision["audit_ref"]) == (
        [], [], "")
    assert decision["disagreement"] == 0.0
    assert [(s["agent"], s["status"], s["batch_size"]) for s in decision["signals"]] == [
        ("geo", "OK", 0), ("network", "NO_MODEL", 0)]


def test_verify_counts_are_numbers_and_an_empty_problem_list_is_present(
    capsys: pytest.CaptureFixture[str]
) -> None:
    reply = audit_pb2.VerifyResponse(ok=True, records_checked=12, segments_checked=3)

    with serving(Hosted(audit_pb2_grpc, "AuditService", FakeAudit(reply))) as address:
        assert main(["audit", "verify", "--audit-addr", address, "--json"]) == 0

    assert printed_json(capsys) == {
        "ok": True, "records_checked": 12, "segments_checked": 3, "problems": []}


def test_agent_describe_spells_its_state_as_the_text_does(
    capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(Hosted(agent_pb2_grpc, "AgentService", FakeAgent())) as address:
        assert main(["agent", "geo", "--addr", address, "--describe", "--json"]) == 0

    described = printed_json(capsys)
    assert described["state"] == "READY"
    assert described["description"] == ""


def test_review_list_is_one_document_even_when_empty(
    audit_addr: str, capsys: pytest.CaptureFixture[str]  # noqa: F811 (the fixture)
) -> None:
    assert main(["review", "list", "--audit-addr", audit_addr, "--json"]) == 0
    queue = printed_json(capsys)
    assert main(["review", "list", "--decided", "--audit-addr", audit_addr, "--json"]) == 0

    assert printed_json(capsys) == []
    assert [item["decision"]["decision_id"] for item in queue] == ["d-0", "d-2"]
    assert {item["decision"]["action"] for item in queue} == {"ESCALATE"}
    assert {item["state"] for item in queue} == {"PENDING"}
