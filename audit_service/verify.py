"""Backend-neutral checks of the log: each writer's hash chain, and the index against the log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from audit_service.chain import GENESIS_HASH, ChainedLine, MalformedLine, decode_line
from audit_service.layout import audit_ref
from audit_service.storage import ProblemKind, VerifyProblem, VerifyReport

# seq -> (decision id, hash): what the index, or the log, holds for one segment.
SegmentEntries = Mapping[int, tuple[str, str]]


@dataclass(slots=True)
class _Gap:
    """Seqs first..last that the chain jumped over, where the jump was seen."""

    first: int
    last: int
    location: str


class WriterChainCheck:
    """Checks one writer's records in log order: segments by first seq, lines in file order.

    Memory stays bounded by the number of gaps, not the number of records, so a whole
    bucket can be streamed through it.
    """

    def __init__(self, report: VerifyReport, writer_id: str) -> None:
        self._report = report
        self._writer_id = writer_id
        self._expected = 1
        self._prev_hash = GENESIS_HASH
        self._gaps: list[_Gap] = []

    def check_segment(self, key: str, data: bytes, indexed: SegmentEntries) -> None:
        """Check the records of one segment (its bytes) and the index's rows for it."""
        self._report.segments_checked += 1
        lines = data.split(b"\n")
        unterminated = lines.pop()
        in_log: dict[int, tuple[str, str]] = {}
        for number, raw in enumerate(lines, start=1):
            location = f"{key}:{number}"
            try:
                line = decode_line(raw)
            except MalformedLine as exc:
                self._problem(ProblemKind.UNREADABLE_RECORD, location, str(exc))
                continue
            self._report.records_checked += 1
            if line.recomputed_hash() != line.hash:
                self._problem(
                    ProblemKind.HASH_MISMATCH,
                    location,
                    f"seq {line.seq}: the record does not match its hash (modified)",
                )
            self._check_order(line, location)
            in_log.setdefault(line.seq, (line.decision_id, line.hash))
        if unterminated:
            self._problem(
                ProblemKind.UNREADABLE_RECORD,
                f"{key}:{len(lines) + 1}",
                "the last line has no newline (a torn write)",
            )
        self._cross_check(key, in_log, indexed)

    def finish(self) -> None:
        """Report the gaps no later record filled: deleted records."""
        for gap in self._gaps:
            span = str(gap.first) if gap.first == gap.last else f"{gap.first}..{gap.last}"
            self._problem(
                ProblemKind.MISSING_RECORD,
                gap.location,
                f"writer {self._writer_id}: seq {span} missing before this record",
            )
        self._gaps.clear()

    def _check_order(self, line: ChainedLine, location: str) -> None:
        seq = line.seq
        if seq < self._expected:
            if self._fill_gap(seq):
                self._problem(
                    ProblemKind.OUT_OF_ORDER,
                    location,
                    f"seq {seq} comes after seq {self._expected - 1}",
                )
            else:
                self._problem(ProblemKind.DUPLICATE_SEQ, location, f"seq {seq} appears again")
            return
        if seq > self._expected:
            self._gaps.append(_Gap(self._expected, seq - 1, location))
        elif line.prev_hash != self._prev_hash:
            self._problem(
                ProblemKind.CHAIN_BROKEN,
                location,
                f"seq {seq}: prev_hash is not the hash of seq {seq - 1}",
            )
        self._expected = seq + 1
        # Resynchronise on the stored hash so that one modified record is one finding.
        self._prev_hash = line.hash

    def _fill_gap(self, seq: int) -> bool:
        for i, gap in enumerate(self._gaps):
            if gap.first <= seq <= gap.last:
                rest = [
                    _Gap(first, last, gap.location)
                    for first, last in ((gap.first, seq - 1), (seq + 1, gap.last))
                    if first <= last
                ]
                self._gaps[i : i + 1] = rest
                return True
        return False

    def _cross_check(self, key: str, in_log: SegmentEntries, indexed: SegmentEntries) -> None:
        for seq in sorted(indexed.keys() | in_log.keys()):
            ref = audit_ref(key, seq)
            logged, known = in_log.get(seq), indexed.get(seq)
            if known is None and logged is not None:
                self._problem(
                    ProblemKind.UNINDEXED_RECORD, ref, f"decision {logged[0]} is not in the index"
                )
            elif logged is None and known is not None:
                self._problem(
                    ProblemKind.MISSING_RECORD,
                    ref,
                    f"indexed decision {known[0]} is gone from the log (deleted)",
                )
            elif logged != known and logged is not None and known is not None:
                self._problem(
                    ProblemKind.INDEX_MISMATCH,
                    ref,
                    f"the index holds decision {known[0]} hash {known[1][:16]}, "
                    f"the log decision {logged[0]} hash {logged[1][:16]}",
                )

    def _problem(self, kind: ProblemKind, location: str, detail: str) -> None:
        self._report.problems.append(VerifyProblem(kind=kind, location=location, detail=detail))


def check_missing_segments(
    report: VerifyReport, indexed: Mapping[str, tuple[int, int, int]], present: set[str]
) -> None:
    """Segments the index knows (key -> records, first seq, last seq) that the log lacks."""
    for key in sorted(indexed.keys() - present):
        count, first, last = indexed[key]
        report.problems.append(
            VerifyProblem(
                kind=ProblemKind.MISSING_RECORD,
                location=key,
                detail=f"the segment is gone; the index holds {count} records of it "
                f"(seq {first}..{last})",
            )
        )
