"""Backend-neutral checks of the log: each writer's hash chain, its segments against their
signed Merkle roots, and the index against the log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit_service.log.chain import GENESIS_HASH, ChainedLine, MalformedLine, decode_line
from audit_service.log.checkpoints import (
    BadCheckpoint,
    Checkpoint,
    SegmentAnchor,
    SignedCheckpoint,
    WriterAnchors,
    open_checkpoint,
    writer_anchors,
)
from audit_service.log.layout import audit_ref
from audit_service.log.merkle import MerkleAccumulator, leaf_hash
from audit_service.storage import ProblemKind, VerifyReport

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

    def __init__(
        self, report: VerifyReport, writer_id: str, anchors: WriterAnchors | None = None
    ) -> None:
        self._report = report
        self._writer_id = writer_id
        self._anchors = anchors or WriterAnchors()
        self._seen: set[str] = set()
        self._expected = 1
        self._prev_hash = GENESIS_HASH
        self._gaps: list[_Gap] = []

    def check_segment(self, key: str, data: bytes, indexed: SegmentEntries) -> None:
        """Check the records of one segment (its bytes), against the root its signed
        checkpoints state and against the index's rows for it."""
        self._report.segments_checked += 1
        self._seen.add(key)
        lines = data.split(b"\n")
        unterminated = lines.pop()
        in_log: dict[int, tuple[str, str]] = {}
        # One entry per line (None where unreadable): the leaves the signed root covers.
        hashes: list[str | None] = []
        for number, raw in enumerate(lines, start=1):
            location = f"{key}:{number}"
            try:
                line = decode_line(raw)
            except MalformedLine as exc:
                hashes.append(None)
                self._problem(ProblemKind.UNREADABLE_RECORD, location, str(exc))
                continue
            hashes.append(line.hash)
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
        self._check_anchor(key, hashes, in_log)
        self._cross_check(key, in_log, indexed)

    def _check_anchor(
        self, key: str, hashes: list[str | None], in_log: SegmentEntries
    ) -> None:
        latest = self._anchors.latest(key)
        if latest is None:
            self._problem(
                ProblemKind.UNANCHORED_RECORD, key,
                f"no signed checkpoint covers this segment ({len(hashes)} records): inserted?",
            )
            return
        if len(hashes) < latest.records:
            for seq in range(latest.first_seq, latest.last_seq + 1):
                if seq not in in_log:
                    self._problem(
                        ProblemKind.MISSING_RECORD, audit_ref(key, seq),
                        f"seq {seq} is signed for in a checkpoint and gone (deleted)",
                    )
        broken = self._broken_claim(hashes, self._anchors.claims[key])
        if broken is not None:
            self._problem(
                ProblemKind.ROOT_MISMATCH, key,
                f"its first {broken} records no longer have the Merkle root signed for them",
            )
        if len(hashes) > latest.records:
            self._problem(
                ProblemKind.UNANCHORED_RECORD, f"{key}:{latest.records + 1}",
                f"{len(hashes) - latest.records} records after the {latest.records} a signed "
                "checkpoint covers (inserted?)",
            )

    @staticmethod
    def _broken_claim(hashes: list[str | None], claims: set[SegmentAnchor]) -> int | None:
        """The size of the first signed prefix whose root the segment no longer has."""
        wanted: dict[int, set[str]] = {}
        for claim in claims:
            wanted.setdefault(claim.records, set()).add(claim.root)
        tree = MerkleAccumulator()
        for record_hash in hashes[: max(wanted)]:
            if record_hash is None:
                return tree.size + 1
            tree.add(leaf_hash(record_hash))
            roots = wanted.get(tree.size)
            if roots and roots != {tree.root().hex()}:
                return tree.size
        return None

    def finish(self) -> None:
        """Report the gaps no later record filled, and signed segments that are gone:
        deleted records."""
        for key in sorted(self._anchors.claims.keys() - self._seen):
            anchor = max(self._anchors.claims[key], key=lambda a: a.records)
            self._problem(
                ProblemKind.MISSING_RECORD, key,
                f"the segment is gone; a signed checkpoint states its {anchor.records} records "
                f"(seq {anchor.first_seq}..{anchor.last_seq})",
            )
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
        self._report.add(kind, location, detail)


def check_missing_segments(
    report: VerifyReport, indexed: Mapping[str, tuple[int, int, int]], present: set[str]
) -> None:
    """Segments the index knows (key -> records, first seq, last seq) that the log lacks."""
    for key in sorted(indexed.keys() - present):
        count, first, last = indexed[key]
        report.add(
            ProblemKind.MISSING_RECORD,
            key,
            f"the segment is gone; the index holds {count} records of it (seq {first}..{last})",
        )


def open_checkpoints(
    stored: Iterable[tuple[str, SignedCheckpoint | BadCheckpoint]],
    public_key: Ed25519PublicKey,
    report: VerifyReport,
) -> dict[str, WriterAnchors]:
    """writer id -> anchors, from (location, stored checkpoint or why it is unreadable);
    checkpoints that do not open are reported and count for nothing."""
    opened: list[Checkpoint] = []
    for location, signed in stored:
        try:
            if isinstance(signed, BadCheckpoint):
                raise signed
            opened.append(open_checkpoint(signed, public_key))
        except BadCheckpoint as exc:
            report.add(ProblemKind.BAD_CHECKPOINT, location, str(exc))
    return writer_anchors(opened)
