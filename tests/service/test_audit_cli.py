"""`aegis audit` and `aegis review` against a real audit service (and moto for `init`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from aegis.v1 import audit_pb2, audit_pb2_grpc
from aegis.v1 import common_pb2 as pb
from aegis_cli.main import main
from aegis_runtime.channels import service_channel
from audit_service.component import AuditComponent
from audit_service.settings import AuditSettings
from tests.service.audit_backends import moto_server
from tests.service.test_cli_rpc import serving
from tests.unit.audit_builders import T0, make_record

REASON = "the customer confirmed the trip by phone"


@pytest.fixture
def audit_addr(tmp_path: Path) -> Iterator[str]:
    settings = AuditSettings(port=0, data_dir=tmp_path / "audit", environment="test")
    with serving(AuditComponent(settings)) as address:
        asyncio.run(_record(address))
        yield address


async def _record(address: str) -> None:
    async with service_channel(address) as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)
        for i, action in enumerate([pb.ACTION_ESCALATE, pb.ACTION_ALLOW, pb.ACTION_ESCALATE]):
            record = make_record(f"d-{i}", ts=T0 + i, action=action)
            await stub.Record(audit_pb2.RecordRequest(record=record), timeout=5)


def test_review_list_decide_show(audit_addr: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "list", "--audit-addr", audit_addr]) == 0
    queue = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in queue] == ["d-0", "d-2"]
    assert main(["review", "decide", "d-2", "--outcome", "reject", "--reason", "short",
                 "--reviewer", "ana", "--audit-addr", audit_addr]) == 2
    assert "reason: must say why" in capsys.readouterr().err
    assert main(["review", "decide", "d-2", "--outcome", "modify", "--action",
                 "block_permanent", "--reason", REASON, "--reviewer", "ana",
                 "--audit-addr", audit_addr]) == 0
    assert "MODIFY -> BLOCK_PERMANENT (was ESCALATE)" in capsys.readouterr().out
    assert main(["review", "decide", "d-2", "--outcome", "approve", "--reason", REASON,
                 "--reviewer", "bob", "--audit-addr", audit_addr]) == 1
    assert "reviewed already" in capsys.readouterr().err
    assert main(["review", "list", "--decided", "--audit-addr", audit_addr]) == 0
    assert "-> MODIFY BLOCK_PERMANENT by ana" in capsys.readouterr().out
    assert main(["review", "show", "d-2", "--audit-addr", audit_addr]) == 0
    assert "ESCALATE" in capsys.readouterr().out


def test_review_show_prints_what_drove_the_decision_and_its_thresholds(
    audit_addr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    record = make_record("d-9", ts=T0 + 9, action=pb.ACTION_CHALLENGE, risk=0.7)
    record.decision.drivers[:] = ["Unusual for this user: device never seen in 40 logins",
                                  "Shared with other accounts: IP used by 7 other users"]
    record.decision.thresholds.CopyFrom(pb.PolicyThresholds(
        challenge=0.62, block_temporary=0.9, critical=0.95, escalate_above=0.62,
        window_decisions=20000))

    async def record_it() -> None:
        async with service_channel(audit_addr) as channel:
            await audit_pb2_grpc.AuditServiceStub(channel).Record(
                audit_pb2.RecordRequest(record=record), timeout=5)

    asyncio.run(record_it())
    assert main(["review", "show", "d-9", "--audit-addr", audit_addr]) == 0
    out = capsys.readouterr().out
    assert ("why:\n  - Unusual for this user: device never seen in 40 logins\n"
            "  - Shared with other accounts: IP used by 7 other users\n") in out
    assert "challenge 0.620" in out and "from 20000 recent decisions" in out


def test_prove_and_check_offline(audit_addr: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "prove", "d-1", "--audit-addr", audit_addr]) == 0
    proof = tmp_path / "proof.json"
    proof.write_text(capsys.readouterr().out)
    assert main(["audit", "public-key", "--audit-addr", audit_addr]) == 0
    key = tmp_path / "key.pem"
    key.write_text(capsys.readouterr().out)
    assert main(["audit", "check-proof", str(proof), "--public-key", str(key)]) == 0
    assert "proven: decision d-1 (ALLOW)" in capsys.readouterr().out
    proof.write_text(proof.read_text().replace("ACTION_ALLOW", "ACTION_CHALLENGE"))
    assert main(["audit", "check-proof", str(proof), "--public-key", str(key)]) == 1
    assert "NOT PROVEN" in capsys.readouterr().out
    assert main(["audit", "check-proof", str(proof), "--public-key", str(proof)]) == 2


def test_export_labels(audit_addr: str, tmp_path: Path) -> None:
    assert main(["review", "decide", "d-0", "--outcome", "approve", "--reason", REASON,
                 "--reviewer", "ana", "--audit-addr", audit_addr]) == 0
    out = tmp_path / "labels.jsonl"
    assert main(["audit", "export-labels", "--out", str(out), "--audit-addr", audit_addr]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (row["decision_id"], row["label_action"], row["is_account_takeover"]) == (
        "d-0", "ACTION_ALLOW", False
    )
    assert row["event"]["event_id"] == "ev-d-0" and row["ai_action"] == "ACTION_ESCALATE"


def test_init_then_rebuild_index_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with moto_server() as endpoint:
        for name, value in {
            "BACKEND": "aws", "S3_BUCKET": "aegis-cli-test", "DYNAMODB_TABLE": "aegis-cli-test",
            "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "ENVIRONMENT": "test",
            "DATA_DIR": str(tmp_path),
        }.items():
            monkeypatch.setenv(f"AEGIS_AUDIT_{name}", value)
        assert main(["audit", "init"]) == 0
        assert "created (versioning, Object Lock COMPLIANCE" in capsys.readouterr().out
        assert main(["audit", "init"]) == 0
        assert capsys.readouterr().out.count("exists, left as it is") == 2
        assert main(["audit", "rebuild-index"]) == 0
        assert "0 records" in capsys.readouterr().out
