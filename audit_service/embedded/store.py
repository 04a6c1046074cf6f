"""The embedded backend: JSONL segments on local disk (laid out like S3), signed checkpoints
beside them, and a SQLite index."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence

from aegis.v1 import common_pb2
from aegis_domain.login_history import column_row
from aegis_domain.types import Action, LoginContext, PastLogin
from aegis_runtime.errors import ServiceError, Unavailable
from audit_service.embedded.checkpoints import (
    CheckpointFile,
    newest_first,
    read_checkpoint_files,
)
from audit_service.embedded.context_cache import USER_ID, ContextCache, Row, row_of
from audit_service.embedded.index import IndexSnapshot, SqliteIndex
from audit_service.embedded.index_lag import IndexLag
from audit_service.embedded.segments import SegmentLog
from audit_service.group_commit import GroupCommitter, PendingRecord
from audit_service.index_rows import (
    IndexedDecision,
    IndexedEntry,
    RecordLocation,
    indexed_entry_from_json,
)
from audit_service.log.chain import MalformedLine, decode_line
from audit_service.log.checkpoints import (
    BadCheckpoint,
    Checkpoint,
    SegmentAnchor,
    SignedCheckpoint,
    head_checkpoint,
    open_checkpoint,
)
from audit_service.log.layout import SegmentName, audit_ref, checkpoint_file_key, parse_segment_key
from audit_service.log.proofs import InclusionProof, build_proof
from audit_service.log.signing import Signer
from audit_service.log.verify import WriterChainCheck, check_missing_segments, open_checkpoints
from audit_service.log.writer import ChainHead, ChainWriter, SegmentLimits
from audit_service.repeats import batch_results, event_ids, sort_batch
from audit_service.settings import AuditSettings
from audit_service.storage import (
    AuditStore,
    ContextQuery,
    DecisionFilter,
    DecisionPage,
    EventClaim,
    LogInconsistent,
    ProblemKind,
    RecordResult,
    ReviewEntry,
    ReviewPage,
    ReviewQueue,
    VerifyReport,
)

log = logging.getLogger(__name__)

INDEX_FILE = "index.sqlite3"
LOCK_FILE = ".lock"


class EmbeddedAuditStore(AuditStore):
    """AuditStore on local files: the default backend, and the one tests and the local
    cluster use.

    Group commit (audit_service.group_commit): each batch is appended with one write + fsync
    per segment, signed (one checkpoint line) and added to the context cache, then
    acknowledged, then indexed in one SQLite transaction, in the writer thread (IndexLag:
    readers of the index wait for it). A failed write stops the store (fail-stop): the state
    on disk is uncertain, and a restart recovers it from the log (re-indexing what a crash
    left unindexed).
    """

    def __init__(self, settings: AuditSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._bounds = settings.context_bounds()
        self._clock = clock
        self._signer = settings.signer()
        self._log = SegmentLog(settings.data_dir)
        self._index = SqliteIndex(settings.data_dir / INDEX_FILE)
        self._contexts = ContextCache(self._bounds, settings.context_cache_rows)
        self._writer = ChainWriter(
            self._log,
            settings.environment,
            settings.writer_id,
            SegmentLimits(settings.segment_max_bytes, settings.segment_max_records),
        )
        self._checkpoints = CheckpointFile(
            settings.data_dir, settings.environment, settings.writer_id
        )
        # Held by the writer thread for a whole batch: verify snapshots the chain between
        # batches, when log, checkpoints and index agree.
        self._write_lock = threading.Lock()
        self._committer = GroupCommitter(self._commit, settings.max_batch_records, fail_stop=True,
                                         after_ack=self._index_acknowledged)
        # Written by _commit, indexed by _index_acknowledged (both in the writer thread).
        self._unindexed: list[tuple[IndexedEntry, RecordLocation]] = []
        self._index_lag = IndexLag()
        self._checkpoint_synced_at = time.monotonic()
        self._lock_fd: int | None = None

    @property
    def signer(self) -> Signer:
        return self._signer

    @property
    def commit_count(self) -> int:
        """Batches made durable so far (each one write + fsync): records share them."""
        return self._committer.commit_count

    @property
    def context_cache_misses(self) -> int:
        """Contexts memory could not answer exactly, read from the index instead."""
        return self._contexts.misses

    @property
    def context_cache_loads(self) -> int:
        """Keys GetContext loaded from the index on first use (warmed keys are not)."""
        return self._contexts.loads

    # Lifecycle.

    async def start(self) -> None:
        await asyncio.to_thread(self._open)
        self._committer.start()

    async def close(self) -> None:
        await self._committer.close()
        await asyncio.to_thread(self._close_files)

    async def failed(self) -> str:
        await self._committer.stopped.wait()
        return f"the audit log cannot be written: {self._committer.failure}"

    def _open(self) -> None:
        self._lock_data_dir()
        try:
            self._recover()
        except BaseException:
            self._unlock_data_dir()
            raise

    def _warm_contexts(self) -> None:
        """Before SERVING: the link keys of the newest rows within the neighbour and velocity
        windows (at most a third of context_cache_rows), so a busy IP or ASN answers its first
        query from memory; then the users of those rows, the most recently seen first (up to
        another third), so a user's first login after a start is answered from memory too."""
        # Each scanned row is held by up to three keys: the scan leaves memory's bound unmet.
        limit = self._settings.context_cache_rows // 3
        if not limit or not self._settings.context_cache_warm:
            return
        bounds = self._bounds
        since = self._clock() - max(bounds.neighbor_window_s, bounds.velocity_window_s)
        with self._index.snapshot() as index:
            rows, floor = index.recent_rows(since, limit)
            self._contexts.warm(rows, floor)
            users = dict.fromkeys(row[USER_ID] for row, _, _, _ in rows)
            self._contexts.warm_users(users, index.newest_rows, limit)

    def _close_files(self) -> None:
        with self._write_lock:
            self._writer.close()
            self._checkpoints.close()
            self._index.close()
        self._unlock_data_dir()

    def _lock_data_dir(self) -> None:
        """One store per data_dir: two writers of one chain would break it."""
        self._settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._settings.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Unavailable(
                f"{self._settings.data_dir} is in use by another audit store (stop it first)"
            ) from None
        self._lock_fd = fd

    def _unlock_data_dir(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _recover(self) -> None:
        """The log is the source of truth: repair this writer's tail, sign what no checkpoint
        covers, then index every record of the log the index lacks (a crash after the append,
        or a lost index)."""
        with self._write_lock:
            self._index.open()
            try:
                self._writer.recover()
                self._checkpoints.open()
                self._anchor_recovered_tail()
                segments, _ = self._log.list_segments()
                counts = self._index.segment_counts()
                for name in segments:
                    data = self._log.read(name.key)
                    if data.count(b"\n") != counts.get(name.key, 0):
                        self._reindex(name.key, data)
                self._warm_contexts()
            except BaseException:
                self._checkpoints.close()
                self._index.close()
                raise

    def _signed_head(self) -> Checkpoint | None:
        """This writer's newest checkpoint that opens with our key."""
        for location, signed in newest_first(self._settings.data_dir, self._checkpoints.key):
            try:
                if isinstance(signed, BadCheckpoint):
                    raise signed
                return open_checkpoint(signed, self._signer.public_key)
            except BadCheckpoint as exc:
                log.error("skipping a checkpoint that does not open",
                          extra={"location": location, "error": str(exc)})
        return None

    def _anchor_recovered_tail(self) -> None:
        """Make the log end at a signed head. Records after the newest checkpoint on disk
        were fsynced, so they may have been acknowledged: a crash came before their
        checkpoint was written or reached the disk (it is fsynced only every
        checkpoint_sync_s). They are checked to continue the signed chain and sealed now,
        marked `recovered`. A log that ends before its signed head has lost records: the
        chain goes on from that head in a new segment, and the damaged one stays as found
        for verify. Records without any checkpoint at all are left as they are, unsigned:
        the first checkpoint is fsynced at once, so signing them now would launder a deleted
        checkpoint file (verify reports them)."""
        signed = self._signed_head()
        head = self._writer.head
        if signed is None:
            if head.seq:
                log.error("this writer's records have no checkpoint; run verify",
                          extra={"seq": head.seq})
            return
        if signed.seq > head.seq:
            log.error("the log ends before its signed head: records were deleted; run verify",
                      extra={"log_seq": head.seq, "signed_seq": signed.seq})
            self._writer.resume(signed.seq, signed.head_hash)
        elif signed.seq < head.seq:
            log.warning("sealing records a crash left without a durable checkpoint",
                        extra={"from_seq": signed.seq + 1, "to_seq": head.seq})
            self._sign(self._writer.anchors_after(signed.seq, signed.head_hash),
                       recovered=True)
            self._checkpoints.sync()

    def _reindex(self, key: str, data: bytes) -> int:
        rows: list[tuple[IndexedEntry, RecordLocation]] = []
        offset = 0
        for raw in _lines(data):
            try:
                line = decode_line(raw)
                rows.append(
                    (
                        indexed_entry_from_json(line.body),
                        RecordLocation(key, line.seq, offset, len(raw), line.hash),
                    )
                )
            except MalformedLine as exc:
                log.warning("unreadable record left out of the index",
                            extra={"segment": key, "offset": offset, "error": str(exc)})
            offset += len(raw)
        self._index.insert(rows, skip_known=True)
        log.info("re-indexed segment", extra={"segment": key, "records": len(rows)})
        return len(rows)

    async def rebuild_index(self) -> int:
        return await asyncio.to_thread(self._rebuild_index)

    def _rebuild_index(self) -> int:
        self._lock_data_dir()
        try:
            for path in self._settings.data_dir.glob(f"{INDEX_FILE}*"):
                path.unlink()
            self._index.open()
            segments, _ = self._log.list_segments()
            return sum(self._reindex(name.key, self._log.read(name.key)) for name in segments)
        finally:
            self._index.close()
            self._unlock_data_dir()

    # Writes.

    async def record(
        self, record: common_pb2.DecisionRecord, deadline: float | None = None,
        context: bytes | None = None,
    ) -> RecordResult:
        return await self._committer.submit(record, deadline, context)

    def _commit(self, entries: list[PendingRecord]) -> list[RecordResult | ServiceError]:
        """In the writer thread: skip what the index already holds (a decision id, or an
        event already decided: the previous batch's rows are indexed by now, in this
        thread), append the rest durably, sign the new head and add it to the context cache
        (GetContext sees every acknowledged decision), under the write lock. Indexed by
        _index_acknowledged once acknowledged."""
        with self._write_lock:
            known = self._index.known_refs([entry.decision_id for entry in entries])
            batch = sort_batch(entries, known, self._index.event_claims(event_ids(entries)))
            refs: dict[str, str] = {}
            written: dict[str, RecordLocation] = {}
            if batch.fresh:
                locations, anchors = self._writer.append(
                    [e.canonical for e in batch.fresh], self._clock()
                )
                self._sign(anchors)
                self._unindexed = list(
                    zip([e.indexed for e in batch.fresh], locations, strict=True)
                )
                written = {
                    e.decision_id: loc for e, loc in zip(batch.fresh, locations, strict=True)
                }
                # Counted before the cache has the rows: a reader holding the cache's lock
                # that sees the index caught up knows the cache holds nothing it lacks.
                self._index_lag.acknowledging()
                self._contexts.add(_cache_rows(e.indexed for e in batch.fresh))
                refs = {
                    decision_id: audit_ref(loc.segment, loc.seq)
                    for decision_id, loc in written.items()
                }

            def read(decision_id: str) -> tuple[common_pb2.DecisionRecord, str] | None:
                # A repeat of an event decided in this very batch: not indexed yet.
                location = written.get(decision_id)
                if location is None:
                    return self._read_indexed_decision(decision_id)
                return self._read_logged(location)

            return batch_results(entries, batch, known, refs, read)

    def _index_acknowledged(self) -> None:
        """In the writer thread, after the acknowledgement: index the last commit. Its rows
        are forgotten only once the index holds them (_read_claims reads them meanwhile)."""
        if not self._unindexed:
            return
        try:
            self._index.insert(self._unindexed)
        except BaseException as exc:
            self._index_lag.failed(exc)
            raise
        self._unindexed = []
        self._index_lag.indexed()

    def _sign(self, anchors: list[SegmentAnchor], *, recovered: bool = False) -> None:
        """Append the checkpoint of the writer's head. It is fsynced when the last fsync is
        checkpoint_sync_s old, and the writer's first at once (recovery reseals a tail
        after a durable checkpoint, but never records without any)."""
        head = self._writer.head
        now = self._clock()
        self._checkpoints.append(
            head_checkpoint(
                self._signer, self._settings.environment, self._writer.writer_id,
                (head.seq, head.hash), anchors, now, recovered=recovered,
            )
        )
        monotonic = time.monotonic()
        if (not self._checkpoints.synced_size
                or monotonic - self._checkpoint_synced_at >= self._settings.checkpoint_sync_s):
            self._checkpoints.sync()
            self._checkpoint_synced_at = monotonic

    # Reads.

    async def get_context(
        self, user_id: str, device_id: str, ip: str, asn: int, as_of: float
    ) -> LoginContext:
        query = ContextQuery(user_id, device_id, ip, asn, as_of)
        contexts, _ = await self.contexts_and_claims([query], ())
        return contexts[0]

    async def get_contexts(self, queries: Sequence[ContextQuery]) -> list[LoginContext]:
        contexts, _ = await self.contexts_and_claims(queries, ())
        return contexts

    async def contexts_and_claims(
        self, queries: Sequence[ContextQuery], event_ids: Sequence[str]
    ) -> tuple[list[LoginContext], dict[str, EventClaim]]:
        """On the event loop when memory holds every context (live traffic, mostly): the
        claims are then a few primary-key lookups, cheaper than waking a reader thread.
        Otherwise the rest, and the claims, in a reader thread."""
        held = self._contexts.held_contexts(queries)
        contexts = [context for context in held if context is not None]
        if len(contexts) == len(queries):
            return contexts, self._read_claims(event_ids)
        rest = [q for q, context in zip(queries, held, strict=True) if context is None]
        read, claims = await asyncio.to_thread(self._read_contexts, rest, event_ids)
        found = iter(read)
        return [next(found) if context is None else context for context in held], claims

    def _read_claims(self, event_ids: Sequence[str]) -> dict[str, EventClaim]:
        """On the event loop too, so it does not wait for the index: the last commit's
        claims, if it is not indexed yet, come from its rows. Taken before the index is
        read: the writer forgets them only once the index holds them."""
        if not event_ids:
            return {}
        unindexed = self._unindexed
        with self._index.snapshot() as index:
            claims = index.event_claims(event_ids)
        wanted = set(event_ids)
        for entry, _ in unindexed:
            if isinstance(entry, IndexedDecision) and entry.event_id in wanted:
                claims.setdefault(entry.event_id,
                                  EventClaim(entry.decision_id, entry.event_digest))
        return claims

    def _current_index(self) -> contextlib.AbstractContextManager[IndexSnapshot]:
        """A snapshot of the index that holds every record acknowledged before the call."""
        self._index_lag.wait()
        return self._index.snapshot()

    def _read_contexts(
        self, queries: Sequence[ContextQuery], event_ids: Sequence[str]
    ) -> tuple[list[LoginContext], dict[str, EventClaim]]:
        """From the context cache where it holds every row a query reads, else from the
        index. Keys are loaded from a snapshot pinned under the cache's lock once the index
        holds every commit the cache has (a commit updates the cache, under that lock,
        before the index), so they miss no commit. While the index lags (a commit
        acknowledged, its rows not yet written), what memory holds is answered at once and
        the rest waits for the index."""
        answers: list[LoginContext | None] = [None] * len(queries)
        unheld: set[int] = set()  # memory may lack rows they read: the index answers them
        while True:
            with self._contexts.lock, self._index.snapshot() as index:
                current = self._index_lag.caught_up()
                if current:
                    index.pin()
                load = index.newest_rows if current else _index_lags
                for at, q in enumerate(queries):
                    if answers[at] is None and at not in unheld:
                        try:
                            answers[at] = self._contexts.context(q, load)
                        except _IndexLags:
                            continue
                        if answers[at] is None:
                            unheld.add(at)
                    if answers[at] is None and current:
                        answers[at] = index.context(
                            q.user_id, q.device_id, q.ip, q.asn, q.as_of, self._bounds
                        )
                contexts = [answer for answer in answers if answer is not None]
                if current and event_ids:
                    return contexts, index.event_claims(event_ids)
            if len(contexts) == len(queries):
                return contexts, self._read_claims(event_ids)
            self._index_lag.wait()

    async def event_claims(self, wanted: Sequence[str]) -> dict[str, EventClaim]:
        return await asyncio.to_thread(self._read_claims, wanted)

    async def get_decision(
        self, decision_id: str
    ) -> tuple[common_pb2.DecisionRecord, str] | None:
        return await asyncio.to_thread(self._read_decision, decision_id)

    def _read_decision(self, decision_id: str) -> tuple[common_pb2.DecisionRecord, str] | None:
        self._index_lag.wait()
        return self._read_indexed_decision(decision_id)

    def _read_indexed_decision(
        self, decision_id: str
    ) -> tuple[common_pb2.DecisionRecord, str] | None:
        """The decision as the index holds it now (the writer's: it indexes in order)."""
        with self._index.snapshot() as index:
            location = index.location(decision_id)
        return None if location is None else self._read_logged(location)

    def _read_logged(self, location: RecordLocation) -> tuple[common_pb2.DecisionRecord, str]:
        """The record at `location`, checked against the hash it was written with."""
        ref = audit_ref(location.segment, location.seq)
        try:
            raw = self._log.read_at(location.segment, location.offset, location.length)
            line = decode_line(raw)
        except (OSError, MalformedLine) as exc:
            raise LogInconsistent(f"{ref}: the indexed record cannot be read ({exc})") from None
        if line.seq != location.seq or line.recomputed_hash() != location.hash:
            raise LogInconsistent(f"{ref}: the log no longer holds the record as indexed")
        return line.record(), ref

    async def list_decisions(
        self, filters: DecisionFilter, page_size: int = 0, page_token: str = ""
    ) -> DecisionPage:
        size = self._page_size(page_size)
        return await asyncio.to_thread(self._read_page, filters, size, page_token)

    def _page_size(self, page_size: int) -> int:
        return min(page_size or self._settings.list_page_size, self._settings.list_max_page_size)

    def _read_page(self, filters: DecisionFilter, size: int, page_token: str) -> DecisionPage:
        with self._current_index() as index:
            return index.page(filters, size, page_token)

    async def list_reviews(
        self, decided: bool, page_size: int = 0, page_token: str = ""
    ) -> ReviewPage:
        size = self._page_size(page_size)

        def read() -> ReviewPage:
            with self._current_index() as index:
                if decided:
                    return index.decided_reviews(size, page_token)
                return index.pending_reviews(size, page_token)

        return await asyncio.to_thread(read)

    async def review_queue(self) -> ReviewQueue:
        def read() -> ReviewQueue:
            with self._current_index() as index:
                return index.review_queue()

        return await asyncio.to_thread(read)

    async def review_entry(self, decision_id: str) -> ReviewEntry | None:
        def read() -> ReviewEntry | None:
            with self._current_index() as index:
                return index.review_entry(decision_id)

        return await asyncio.to_thread(read)

    # The verifiable log.

    async def prove(self, decision_id: str) -> InclusionProof | None:
        return await asyncio.to_thread(self._prove, decision_id)

    def _prove(self, decision_id: str) -> InclusionProof | None:
        with self._current_index() as index:
            location = index.location(decision_id)
        if location is None:
            return None
        name = parse_segment_key(location.segment)
        if name is None:
            raise LogInconsistent(f"{location.segment}: the index names no segment")
        signed, anchor = self._newest_anchor(name, location.seq)
        data = self._log.read(location.segment)
        return build_proof(decision_id, location.segment, data, location.seq, signed,
                           anchor.records)

    def _newest_anchor(
        self, name: SegmentName, seq: int
    ) -> tuple[SignedCheckpoint, SegmentAnchor]:
        """The newest checkpoint of the segment's writer that covers record `seq` of it."""
        key = checkpoint_file_key(name.environment, name.writer_id)
        for _, signed in newest_first(self._settings.data_dir, key):
            if isinstance(signed, BadCheckpoint):
                continue
            try:
                anchor = open_checkpoint(signed, self._signer.public_key).anchor(name.key)
            except BadCheckpoint:
                continue
            if anchor is not None and anchor.last_seq >= seq:
                return signed, anchor
        raise Unavailable(f"no signed checkpoint covers {audit_ref(name.key, seq)} yet")

    async def verify(self) -> VerifyReport:
        return await asyncio.to_thread(self._verify)

    def _verify(self) -> VerifyReport:
        with self._index.snapshot() as index:
            # Log, checkpoints and index agree between batches, once the index holds the
            # last one: take the chain head, the checkpoint file's size and the index state
            # there, then read only what existed at that instant.
            with self._write_lock:
                self._index_lag.wait()
                head = self._writer.head
                checkpoints_size = self._checkpoints.size
                on_disk = (self._log.path(head.open_segment).stat().st_size
                           if head.open_segment else 0)
                index.pin()
            report = VerifyReport()
            if head.open_segment and on_disk > head.open_segment_size:
                report.add(
                    ProblemKind.UNANCHORED_RECORD, f"{head.open_segment}@{head.open_segment_size}",
                    f"{on_disk - head.open_segment_size} bytes after the last record this writer "
                    "wrote (appended by someone else?)",
                )
            return self._check_log(report, index, head, checkpoints_size)

    def _check_log(
        self, report: VerifyReport, index: IndexSnapshot, head: ChainHead, checkpoints_size: int
    ) -> VerifyReport:
        segments, strays = self._log.list_segments()
        for key in strays:
            report.add(ProblemKind.UNREADABLE_SEGMENT, key, "not a segment key")
        stored = read_checkpoint_files(
            self._settings.data_dir, {self._checkpoints.key: checkpoints_size}
        )
        anchors = open_checkpoints(stored, self._signer.public_key, report)
        by_writer: dict[str, list[SegmentName]] = defaultdict(list)
        for name in segments:
            if not self._after_snapshot(name, head):
                by_writer[name.writer_id].append(name)
        present: set[str] = set()
        for writer_id in sorted(by_writer.keys() | anchors.keys()):
            check = WriterChainCheck(report, writer_id, anchors.get(writer_id))
            for name in sorted(by_writer[writer_id], key=lambda n: n.first_seq):
                present.add(name.key)
                size = head.open_segment_size if name.key == head.open_segment else None
                try:
                    data = self._log.read(name.key, size)
                except OSError as exc:
                    report.add(ProblemKind.UNREADABLE_SEGMENT, name.key, str(exc))
                    continue
                check.check_segment(name.key, data, index.segment_entries(name.key))
            check.finish()
        check_missing_segments(report, index.segment_ranges(), present)
        return report

    def _after_snapshot(self, name: SegmentName, head: ChainHead) -> bool:
        """A segment this writer opened after verify took its snapshot."""
        return name.writer_id == self._writer.writer_id and name.first_seq > head.seq


class _IndexLags(Exception):
    """A context key to load from an index that lacks a commit the cache holds."""


def _index_lags(column: str, key: str | int, limit: int) -> list[Row]:
    raise _IndexLags


def _cache_rows(entries: Iterable[IndexedEntry]) -> list[tuple[Row, str, str, int]]:
    """The context cache's rows of the committed decisions (reviews change no context)."""
    return [
        (
            row_of(e.decision_id, e.user_id, e.ts, e.login_successful, e.action, e.risk,
                   e.country, column_row(PastLogin(e.event, Action(e.action), e.risk))),
            e.device_id, e.ip, e.asn,
        )
        for e in entries
        if isinstance(e, IndexedDecision)
    ]


def _lines(data: bytes) -> Iterator[bytes]:
    """Lines with their newline. Only a newline ends one: bytes.splitlines also splits on a
    carriage return, which would shift the offsets after a tampered line."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        yield data[start:end]
        start = end
