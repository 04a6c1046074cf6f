"""The verifiable log on both backends: verify finds every modified, deleted (the newest
too), reordered or inserted record in the stored bytes; inclusion proofs check offline."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_service.log.chain import canonical_json, chain_hash
from audit_service.log.proofs import InclusionProof, ProofError, check_proof
from audit_service.storage import ProblemKind, VerifyReport
from tests.service import audit_backends
from tests.service.audit_backends import Backend
from tests.unit.audit_builders import T0, make_record

moto_endpoint = audit_backends.moto_endpoint
backend = audit_backends.backend

RECORDS = 6  # three per segment: two segments, so chains are checked across segments
Tamper = Callable[[Backend], None]


def _seeded(backend: Backend) -> Backend:
    # Embedded segments rotate after three records; on S3 each batch is a segment.
    return backend.with_settings(segment_max_records=3)


async def _seed(store) -> None:
    for start in (0, 3):
        await asyncio.gather(
            *(store.record(make_record(f"d-{i + 1}", ts=T0 + i)) for i in range(start, start + 3))
        )


def verify_after(backend: Backend, tamper: Tamper) -> VerifyReport:
    """Record, stop, tamper with the stored bytes, start again (recovery runs), verify."""
    backend = _seeded(backend)

    async def scenario() -> VerifyReport:
        async with backend.running() as store:
            await _seed(store)
        tamper(backend)
        async with backend.running() as store:
            return await store.verify()

    return asyncio.run(scenario())


def verify_live(backend: Backend, tamper: Tamper) -> VerifyReport:
    """Tamper with the stored bytes under a running store, then verify it."""
    backend = _seeded(backend)

    async def scenario() -> VerifyReport:
        async with backend.running() as store:
            await _seed(store)
            tamper(backend)
            return await store.verify()

    return asyncio.run(scenario())


def edit_lines(segment_index: int, edit: Callable[[list[bytes]], list[bytes]]) -> Tamper:
    def tamper(backend: Backend) -> None:
        key = backend.segments()[segment_index]
        lines = backend.read(key).splitlines()
        backend.write(key, b"".join(line + b"\n" for line in edit(lines)))

    return tamper


def kinds(report: VerifyReport) -> set[str]:
    return {problem.kind for problem in report.problems}


def where(report: VerifyReport) -> list[tuple[str, str]]:
    """(kind, last part of the location) of every problem."""
    return [(p.kind, p.location.rsplit("/", 1)[1]) for p in report.problems]


def rewrite(line: bytes, rehash: bool, prev_hash: str | None = None, seq: int | None = None,
            **decision_changes) -> bytes:
    """A record with changed decision fields; `rehash` recomputes its own hash (a careful
    forger, who knows the chain has no secret), leaving the rest of the chain as it was."""
    body = json.loads(line)
    chain = {name: body.pop(name) for name in ("seq", "prev_hash", "hash")}
    body["decision"].update(decision_changes)
    if prev_hash is not None:
        chain["prev_hash"] = prev_hash
    if seq is not None:
        chain["seq"] = seq
    if rehash:
        chain["hash"] = chain_hash(chain["prev_hash"], canonical_json(body))
    return json.dumps({**chain, **body}).encode()


def test_a_clean_log_verifies(backend: Backend) -> None:
    report = verify_after(backend, lambda _: None)
    assert report.ok, report.problems
    assert (report.records_checked, report.segments_checked) == (RECORDS, 2)


def test_a_modified_record_is_a_hash_mismatch(backend: Backend) -> None:
    report = verify_after(
        backend, edit_lines(0, lambda ls: [ls[0], rewrite(ls[1], False, risk=0.0), ls[2]])
    )
    assert where(report) == [(ProblemKind.HASH_MISMATCH, "local-1-000000000001.jsonl:2")]


def test_a_modified_and_rehashed_record_breaks_the_chain_and_the_signed_root(
    backend: Backend,
) -> None:
    report = verify_after(
        backend, edit_lines(0, lambda ls: [ls[0], rewrite(ls[1], True, risk=0.0), ls[2]])
    )
    assert kinds(report) == {
        ProblemKind.CHAIN_BROKEN, ProblemKind.ROOT_MISMATCH, ProblemKind.INDEX_MISMATCH
    }


def test_a_modified_newest_record_breaks_the_signed_root(backend: Backend) -> None:
    # Nothing follows the newest record in the chain: the signed checkpoint catches it.
    report = verify_after(
        backend,
        edit_lines(1, lambda ls: [*ls[:2], rewrite(ls[2], True, action="ACTION_ALLOW", risk=0.0)]),
    )
    assert kinds(report) == {ProblemKind.ROOT_MISMATCH, ProblemKind.INDEX_MISMATCH}


def test_a_deleted_record_is_missing(backend: Backend) -> None:
    report = verify_after(backend, edit_lines(0, lambda ls: [ls[0], ls[2]]))
    assert kinds(report) == {ProblemKind.MISSING_RECORD}
    assert any("seq 2 missing" in p.detail for p in report.problems)
    assert (ProblemKind.MISSING_RECORD, "local-1-000000000001.jsonl#2") in where(report)


@pytest.mark.parametrize("verify", [verify_live, verify_after])
def test_a_deleted_newest_record_is_missing(backend: Backend, verify) -> None:
    # The chain alone cannot see it; the signed checkpoint anchors the head.
    report = verify(backend, edit_lines(1, lambda ls: ls[:2]))
    assert where(report) == [(ProblemKind.MISSING_RECORD, f"local-1-000000000004.jsonl#{RECORDS}")]


@pytest.mark.parametrize("index", [0, 1])
def test_a_deleted_segment_is_missing(backend: Backend, index: int) -> None:
    report = verify_after(backend, lambda b: b.delete(b.segments()[index]))
    assert kinds(report) == {ProblemKind.MISSING_RECORD}
    assert any("the segment is gone" in p.detail for p in report.problems)


def test_reordered_records_are_out_of_order(backend: Backend) -> None:
    report = verify_after(backend, edit_lines(0, lambda ls: [ls[1], ls[0], ls[2]]))
    assert kinds(report) == {ProblemKind.OUT_OF_ORDER, ProblemKind.ROOT_MISMATCH}
    assert (ProblemKind.OUT_OF_ORDER, "local-1-000000000001.jsonl:2") in where(report)


def test_records_reordered_while_serving_are_out_of_order(backend: Backend) -> None:
    report = verify_live(backend, edit_lines(1, lambda ls: [ls[0], ls[2], ls[1]]))
    assert kinds(report) == {ProblemKind.OUT_OF_ORDER, ProblemKind.ROOT_MISMATCH}


def test_an_inserted_record_is_found(backend: Backend) -> None:
    def forge(lines: list[bytes]) -> list[bytes]:
        # A new decision chained after seq 1, taking seq 2.
        return [lines[0], rewrite(lines[1], True, decision_id="forged"), *lines[1:]]

    report = verify_after(backend, edit_lines(0, forge))
    assert {
        ProblemKind.DUPLICATE_SEQ, ProblemKind.CHAIN_BROKEN, ProblemKind.INDEX_MISMATCH,
        ProblemKind.ROOT_MISMATCH, ProblemKind.UNANCHORED_RECORD,
    } <= kinds(report)


def test_an_inserted_copy_is_a_duplicate(backend: Backend) -> None:
    report = verify_after(backend, edit_lines(0, lambda ls: [ls[0], ls[1], ls[1], ls[2]]))
    assert kinds(report) == {
        ProblemKind.DUPLICATE_SEQ, ProblemKind.ROOT_MISMATCH, ProblemKind.UNANCHORED_RECORD
    }


def test_a_record_appended_after_the_head_is_unanchored(backend: Backend) -> None:
    # A forger who chains a new record after the newest one leaves a valid chain; no
    # checkpoint signs it (and the embedded writer knows it did not write those bytes).
    def append(lines: list[bytes]) -> list[bytes]:
        head = json.loads(lines[-1])
        forged = rewrite(lines[-1], True, prev_hash=head["hash"], seq=head["seq"] + 1,
                         decision_id="forged")
        return [*lines, forged]

    report = verify_live(backend, edit_lines(1, append))
    assert ProblemKind.UNANCHORED_RECORD in kinds(report)
    assert not {ProblemKind.CHAIN_BROKEN, ProblemKind.HASH_MISMATCH} & kinds(report)


def test_a_forged_checkpoint_is_refused(backend: Backend) -> None:
    def forge(backend: Backend) -> None:
        key = backend.checkpoints()[-1]
        stored = backend.read(key).splitlines()
        last = json.loads(stored[-1])
        last["statement"] = last["statement"].replace('"seq":6', '"seq":5')
        backend.write(key, b"".join(line + b"\n" for line in [*stored[:-1],
                                                              json.dumps(last).encode()]))

    report = verify_live(backend, forge)
    assert ProblemKind.BAD_CHECKPOINT in kinds(report)


def test_an_unreadable_line_is_reported(backend: Backend) -> None:
    report = verify_after(backend, edit_lines(0, lambda ls: [ls[0], b"garbage", ls[2]]))
    assert ProblemKind.UNREADABLE_RECORD in kinds(report)
    assert any(p.location.endswith("local-1-000000000001.jsonl:2") for p in report.problems)


def test_a_stray_object_in_the_log_is_reported(backend: Backend) -> None:
    def drop_stray(backend: Backend) -> None:
        backend.write(backend.segments()[0].rsplit("/", 1)[0] + "/notes.txt", b"hello")

    report = verify_after(backend, drop_stray)
    assert [p.kind for p in report.problems] == [ProblemKind.UNREADABLE_SEGMENT]


# Inclusion proofs.


def _proofs(backend: Backend, *decision_ids: str) -> tuple[list[InclusionProof], object]:
    backend = _seeded(backend)

    async def scenario():
        async with backend.running() as store:
            await _seed(store)
            assert await store.prove("unknown") is None
            return [await store.prove(d) for d in decision_ids], store.signer.public_key

    return asyncio.run(scenario())


def test_a_proof_checks_offline_with_the_public_key(backend: Backend) -> None:
    # The first record, one inside the newest segment, and the newest.
    proofs, public_key = _proofs(backend, "d-1", "d-5", "d-6")
    for decision_id, proof in zip(("d-1", "d-5", "d-6"), proofs, strict=True):
        line = check_proof(proof, public_key)
        assert line.decision_id == decision_id
        assert line.record().event.event_id == f"ev-{decision_id}"


def test_a_doctored_proof_fails(backend: Backend) -> None:
    (proof,), public_key = _proofs(backend, "d-2")
    body = json.loads(proof.record_line)
    body["decision"]["risk"] = 0.0
    doctored = [
        dataclasses.replace(proof, record_line=json.dumps(body)),
        dataclasses.replace(proof, leaf_index=proof.leaf_index + 1),
        dataclasses.replace(proof, audit_path=list(reversed(proof.audit_path))),
        dataclasses.replace(proof, checkpoint=dataclasses.replace(
            proof.checkpoint,
            signature=base64.b64encode(b"\0" * 64).decode(),
        )),
    ]
    for bad in doctored:
        with pytest.raises(ProofError):
            check_proof(bad, public_key)
    with pytest.raises(ProofError, match="checkpoint"):
        check_proof(proof, Ed25519PrivateKey.generate().public_key())
