"""Verify finds every kind of tampering with the log: modified, deleted, reordered, inserted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from audit_service.chain import canonical_json, chain_hash
from audit_service.storage import ProblemKind, VerifyReport
from tests.unit.audit_builders import (
    T0,
    audit_settings,
    make_record,
    running_store,
    segment_paths,
)

RECORDS = 6  # three per segment: two segments, so chains are checked across a rotation


def seeded_settings(tmp_path: Path):
    return audit_settings(tmp_path, segment_max_records=3)


async def _seed(store) -> None:
    for i in range(RECORDS):
        await store.record(make_record(f"d-{i + 1}", ts=T0 + i))


def verify_after(tmp_path: Path, tamper: Callable[[Path], None]) -> VerifyReport:
    """Record, stop, tamper with the files, start again (recovery runs), verify."""

    async def scenario() -> VerifyReport:
        async with running_store(seeded_settings(tmp_path)) as store:
            await _seed(store)
        tamper(tmp_path)
        async with running_store(seeded_settings(tmp_path)) as store:
            return await store.verify()

    return asyncio.run(scenario())


def verify_live(tmp_path: Path, tamper: Callable[[Path], None]) -> VerifyReport:
    """Tamper with the files under a running store, then verify it."""

    async def scenario() -> VerifyReport:
        async with running_store(seeded_settings(tmp_path)) as store:
            await _seed(store)
            tamper(tmp_path)
            return await store.verify()

    return asyncio.run(scenario())


def edit_lines(segment_index: int, edit: Callable[[list[bytes]], list[bytes]]):
    def tamper(data_dir: Path) -> None:
        path = segment_paths(data_dir)[segment_index]
        lines = path.read_bytes().splitlines()
        path.write_bytes(b"".join(line + b"\n" for line in edit(lines)))

    return tamper


def kinds(report: VerifyReport) -> set[str]:
    return {problem.kind for problem in report.problems}


def rewrite(line: bytes, rehash: bool, **decision_changes) -> bytes:
    """A record with changed decision fields; `rehash` recomputes its own hash (a careful
    forger), leaving the rest of the chain as it was."""
    body = json.loads(line)
    chain = {name: body.pop(name) for name in ("seq", "prev_hash", "hash")}
    body["decision"].update(decision_changes)
    if rehash:
        chain["hash"] = chain_hash(chain["prev_hash"], canonical_json(body))
    return json.dumps({**chain, **body}).encode()


def test_a_clean_log_verifies(tmp_path: Path) -> None:
    report = verify_after(tmp_path, lambda _: None)
    assert report.ok, report.problems
    assert (report.records_checked, report.segments_checked) == (RECORDS, 2)


def test_a_modified_record_is_a_hash_mismatch(tmp_path: Path) -> None:
    report = verify_after(
        tmp_path, edit_lines(0, lambda ls: [ls[0], rewrite(ls[1], False, risk=0.0), ls[2]])
    )
    assert [(p.kind, p.location.rsplit("/", 1)[1]) for p in report.problems] == [
        (ProblemKind.HASH_MISMATCH, "local-1-000000000001.jsonl:2")
    ]


def test_a_modified_and_rehashed_record_breaks_the_chain(tmp_path: Path) -> None:
    report = verify_after(
        tmp_path, edit_lines(0, lambda ls: [ls[0], rewrite(ls[1], True, risk=0.0), ls[2]])
    )
    assert kinds(report) == {ProblemKind.CHAIN_BROKEN, ProblemKind.INDEX_MISMATCH}


def test_a_modified_newest_record_is_caught_by_the_index(tmp_path: Path) -> None:
    report = verify_after(
        tmp_path, edit_lines(1, lambda ls: [*ls[:2], rewrite(ls[2], True, action="ACTION_ALLOW",
                                                              risk=0.0)])
    )
    assert kinds(report) == {ProblemKind.INDEX_MISMATCH}


def test_a_deleted_record_is_missing(tmp_path: Path) -> None:
    report = verify_after(tmp_path, edit_lines(0, lambda ls: [ls[0], ls[2]]))
    assert kinds(report) == {ProblemKind.MISSING_RECORD}
    assert any("seq 2 missing" in p.detail for p in report.problems)
    assert any(p.location.endswith("#2") for p in report.problems)


def test_a_deleted_newest_record_is_missing(tmp_path: Path) -> None:
    for verify in (verify_live, verify_after):
        data_dir = tmp_path / verify.__name__
        report = verify(data_dir, edit_lines(1, lambda ls: ls[:2]))
        assert [(p.kind, p.location.rsplit("/", 1)[1]) for p in report.problems] == [
            (ProblemKind.MISSING_RECORD, f"local-1-000000000004.jsonl#{RECORDS}")
        ], verify.__name__


def test_a_deleted_segment_is_missing(tmp_path: Path) -> None:
    report = verify_after(tmp_path, lambda data_dir: segment_paths(data_dir)[0].unlink())
    assert kinds(report) == {ProblemKind.MISSING_RECORD}
    assert any("the segment is gone" in p.detail for p in report.problems)


def test_reordered_records_are_out_of_order(tmp_path: Path) -> None:
    report = verify_after(tmp_path, edit_lines(0, lambda ls: [ls[1], ls[0], ls[2]]))
    assert [(p.kind, p.location.rsplit("/", 1)[1]) for p in report.problems] == [
        (ProblemKind.OUT_OF_ORDER, "local-1-000000000001.jsonl:2")
    ]


def test_records_reordered_while_serving_are_out_of_order(tmp_path: Path) -> None:
    report = verify_live(tmp_path, edit_lines(1, lambda ls: [ls[0], ls[2], ls[1]]))
    assert kinds(report) == {ProblemKind.OUT_OF_ORDER}


def test_an_inserted_record_is_found(tmp_path: Path) -> None:
    def forge(lines: list[bytes]) -> list[bytes]:
        # A careful forger: a new decision chained after seq 1, taking seq 2.
        forged = rewrite(lines[1], True, decision_id="forged")
        return [lines[0], forged, *lines[1:]]

    report = verify_after(tmp_path, edit_lines(0, forge))
    assert {ProblemKind.DUPLICATE_SEQ, ProblemKind.CHAIN_BROKEN} <= kinds(report)
    assert ProblemKind.INDEX_MISMATCH in kinds(report)


def test_an_inserted_copy_is_a_duplicate(tmp_path: Path) -> None:
    report = verify_after(tmp_path, edit_lines(0, lambda ls: [ls[0], ls[1], ls[1], ls[2]]))
    assert [p.kind for p in report.problems] == [ProblemKind.DUPLICATE_SEQ]


def test_an_unreadable_line_is_reported(tmp_path: Path) -> None:
    report = verify_after(tmp_path, edit_lines(0, lambda ls: [ls[0], b"garbage", ls[2]]))
    assert ProblemKind.UNREADABLE_RECORD in kinds(report)
    assert any(p.location.endswith("local-1-000000000001.jsonl:2") for p in report.problems)
    assert not report.ok


def test_a_stray_file_in_the_log_is_reported(tmp_path: Path) -> None:
    def drop_stray(data_dir: Path) -> None:
        (segment_paths(data_dir)[0].parent / "notes.txt").write_text("hello")

    report = verify_after(tmp_path, drop_stray)
    assert [p.kind for p in report.problems] == [ProblemKind.UNREADABLE_SEGMENT]
