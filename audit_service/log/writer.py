"""This process's hash chain: appends batches of records to rotating segments, durably."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from audit_service.embedded.segments import SegmentLog, append_durably
from audit_service.index_rows import RecordLocation
from audit_service.log.chain import GENESIS_HASH, MalformedLine, decode_line, encode_line
from audit_service.log.checkpoints import SegmentAnchor
from audit_service.log.layout import SegmentName, segment_key, utc_day
from audit_service.log.merkle import MerkleAccumulator, leaf_hash

log = logging.getLogger(__name__)


class RecoveryError(RuntimeError):
    """The log cannot be continued safely; an operator must look (run verify)."""


@dataclass(frozen=True, slots=True)
class SegmentLimits:
    max_bytes: int
    max_records: int


@dataclass(slots=True)
class _OpenSegment:
    key: str
    day: str
    fd: int
    first_seq: int
    size: int = 0
    tree: MerkleAccumulator = field(default_factory=MerkleAccumulator)

    @property
    def records(self) -> int:
        return self.tree.size

    def anchor(self) -> SegmentAnchor:
        return SegmentAnchor(self.key, self.first_seq, self.tree.size, self.tree.root().hex())


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record this writer appended, and the bytes of its open segment then: what
    verify may read without racing the writer."""

    seq: int
    hash: str
    open_segment: str | None
    open_segment_size: int


class ChainWriter:
    """Appends to one writer's chain. Not thread-safe: the caller runs one call at a time.

    After an exception from `append` the state on disk is uncertain (fsync failed, a write
    was cut short): the writer must not be used again until a restart recovers the log.
    """

    def __init__(
        self, log: SegmentLog, environment: str, writer_id: str, limits: SegmentLimits
    ) -> None:
        self._log = log
        self.environment = environment
        self.writer_id = writer_id
        self._limits = limits
        self._seq = 0
        self._hash = GENESIS_HASH
        self._segment: _OpenSegment | None = None

    @property
    def head(self) -> ChainHead:
        segment = self._segment
        return ChainHead(
            seq=self._seq,
            hash=self._hash,
            open_segment=segment.key if segment else None,
            open_segment_size=segment.size if segment else 0,
        )

    def recover(self) -> None:
        """Find the head of this writer's chain on disk, cutting a torn last line (a crash
        mid-write: never acknowledged) and dropping a segment left with no record."""
        own = self._own_segments()
        while own:
            newest = own[-1].key
            cut = self._log.cut_torn_tail(newest)
            if cut:
                log.warning("cut a torn last line", extra={"segment": newest, "bytes": cut})
            data = self._log.read(newest)
            if data:
                last_line = data[data.rfind(b"\n", 0, len(data) - 1) + 1 :]
                try:
                    last = decode_line(last_line)
                except MalformedLine as exc:
                    raise RecoveryError(
                        f"the last record of {newest} is unreadable ({exc}); run verify"
                    ) from None
                self._seq, self._hash = last.seq, last.hash
                return
            self._log.remove(newest)
            own.pop()

    def anchors_after(self, seq: int, record_hash: str) -> list[SegmentAnchor]:
        """The anchors of this writer's segments that hold records after seq `seq` (whose
        hash is `record_hash`: a signed head), once every such record is checked to continue
        the chain from there unmodified; RecoveryError otherwise (sealing them would launder
        an edit)."""
        anchors: list[SegmentAnchor] = []
        prev_seq, prev_hash = seq, record_hash
        for name in self._own_segments():
            data = self._log.read(name.key)
            if name.first_seq + data.count(b"\n") - 1 <= seq:
                continue
            tree = MerkleAccumulator()
            # Only a newline ends a line (recover() cut the newest segment's torn tail).
            for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
                try:
                    line = decode_line(raw)
                except MalformedLine as exc:
                    raise RecoveryError(f"{name.key}:{number} is unreadable ({exc}); "
                                        "run verify") from None
                tree.add(leaf_hash(line.hash))
                if line.seq <= seq:
                    continue
                if (line.seq != prev_seq + 1 or line.prev_hash != prev_hash
                        or line.recomputed_hash() != line.hash):
                    raise RecoveryError(f"{name.key}:{number} does not continue the chain "
                                        f"signed at seq {seq}; run verify")
                prev_seq, prev_hash = line.seq, line.hash
            anchors.append(SegmentAnchor(name.key, name.first_seq, tree.size, tree.root().hex()))
        return anchors

    def resume(self, seq: int, record_hash: str) -> None:
        """Continue the chain from a head the log no longer holds (its signed checkpoint
        says where it was), in a new segment, so the damaged one stays as found."""
        self.close()
        self._seq, self._hash = seq, record_hash

    def append(
        self, canonicals: Sequence[bytes], now: float
    ) -> tuple[list[RecordLocation], list[SegmentAnchor]]:
        """Chain and append records (their canonical bytes), fsynced before returning; a
        batch may span a rotation. `now` (UTC epoch seconds) picks the day of the key.
        Returns where each record went, and the anchor of every segment written to."""
        day = utc_day(now)
        seq, prev_hash = self._seq, self._hash
        lines: list[bytes] = []
        locations: list[RecordLocation] = []
        anchors: list[SegmentAnchor] = []
        for canonical in canonicals:
            seq += 1
            line, record_hash = encode_line(canonical, seq, prev_hash)
            segment = self._segment
            if segment is None or self._must_rotate(segment, day, len(line)):
                if segment is not None:
                    self._flush(segment, lines)
                    lines = []
                    os.close(segment.fd)
                    # Forgotten at once: should the next open fail, close() must not close
                    # this number again (by then another file may hold it).
                    self._segment = None
                    if segment.records:
                        anchors.append(segment.anchor())
                segment = self._open(day, seq)
            locations.append(
                RecordLocation(segment.key, seq, segment.size, len(line), record_hash)
            )
            segment.size += len(line)
            segment.tree.add(leaf_hash(record_hash))
            lines.append(line)
            prev_hash = record_hash
        if self._segment is not None:
            self._flush(self._segment, lines)
            anchors.append(self._segment.anchor())
        self._seq, self._hash = seq, prev_hash
        return locations, anchors

    def _own_segments(self) -> list[SegmentName]:
        """This writer's segments on disk, in chain order."""
        segments, _ = self._log.list_segments()
        return sorted(
            (s for s in segments if s.writer_id == self.writer_id), key=lambda s: s.first_seq
        )

    def close(self) -> None:
        if self._segment is not None:
            os.close(self._segment.fd)
            self._segment = None

    def _must_rotate(self, segment: _OpenSegment, day: str, line_size: int) -> bool:
        return (
            segment.day != day
            or segment.records >= self._limits.max_records
            or (segment.records > 0 and segment.size + line_size > self._limits.max_bytes)
        )

    def _open(self, day: str, first_seq: int) -> _OpenSegment:
        key = segment_key(day, self.environment, self.writer_id, first_seq)
        self._segment = _OpenSegment(
            key=key, day=day, fd=self._log.create(key), first_seq=first_seq
        )
        return self._segment

    @staticmethod
    def _flush(segment: _OpenSegment, lines: list[bytes]) -> None:
        if lines:
            append_durably(segment.fd, b"".join(lines))
