"""The embedded backend: JSONL segments on local disk (laid out like S3) + a SQLite index."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aegis.v1 import common_pb2
from aegis_domain.types import LoginContext
from aegis_runtime.errors import Unavailable
from audit_service.chain import MalformedLine, canonical_record, decode_line
from audit_service.index_rows import (
    IndexedDecision,
    RecordLocation,
    indexed_decision,
    indexed_decision_from_json,
)
from audit_service.layout import SegmentName, audit_ref
from audit_service.log_writer import ChainHead, ChainWriter, SegmentLimits
from audit_service.segment_log import SegmentLog
from audit_service.settings import AuditSettings
from audit_service.sqlite_index import IndexSnapshot, SqliteIndex
from audit_service.storage import (
    AuditStore,
    DecisionFilter,
    DecisionPage,
    LogInconsistent,
    ProblemKind,
    RecordResult,
    VerifyProblem,
    VerifyReport,
)
from audit_service.verify import WriterChainCheck, check_missing_segments

log = logging.getLogger(__name__)

INDEX_FILE = "index.sqlite3"


@dataclass(frozen=True, slots=True)
class _Entry:
    """A record accepted by record(), encoded on the caller's side of the queue."""

    decision_id: str
    canonical: bytes
    indexed: IndexedDecision


_Queued = tuple[_Entry, "asyncio.Future[RecordResult]"]


class EmbeddedAuditStore(AuditStore):
    """AuditStore on local files: the default backend, and the one tests and the local
    cluster use.

    Group commit: record() queues the encoded record; one writer task takes everything queued
    (up to max_batch_records), appends it with one write + fsync per segment and indexes it
    in one SQLite transaction, in the writer thread, then resolves every caller. Records that
    arrive meanwhile form the next batch, so a quiet system waits for nothing and a busy one
    shares each fsync. A failed write stops the store (fail-stop): the state on disk is
    uncertain, and a restart recovers it from the log.
    """

    def __init__(self, settings: AuditSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._bounds = settings.context_bounds()
        self._clock = clock
        self._log = SegmentLog(settings.data_dir)
        self._index = SqliteIndex(settings.data_dir / INDEX_FILE)
        self._writer = ChainWriter(
            self._log,
            settings.environment,
            settings.writer_id,
            SegmentLimits(settings.segment_max_bytes, settings.segment_max_records),
        )
        # Held by the writer thread for a whole batch: verify snapshots the chain between
        # batches, when log and index agree.
        self._write_lock = threading.Lock()
        # A thread of its own, so that reads filling the default executor never delay a commit.
        self._write_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
        self._queue: asyncio.Queue[_Queued | None] | None = None
        self._in_flight: dict[str, asyncio.Future[RecordResult]] = {}
        self._writer_task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self.commit_count = 0
        """Batches made durable so far (each one write + fsync): records share them."""

    # Lifecycle.

    async def start(self) -> None:
        self._settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._recover)
        # Made here, not in __init__: a queue belongs to the event loop that serves.
        self._queue = asyncio.Queue()
        self._writer_task = asyncio.create_task(
            self._run_writer(self._queue), name="audit-writer"
        )

    async def close(self) -> None:
        queue, self._queue = self._queue, None
        if queue is not None and self._writer_task is not None:
            # Records queued before close are still written: the sentinel goes last.
            queue.put_nowait(None)
            await self._writer_task
            self._writer_task = None
        await asyncio.to_thread(self._close_files)
        self._write_thread.shutdown()

    def _close_files(self) -> None:
        with self._write_lock:
            self._writer.close()
            self._index.close()

    def _recover(self) -> None:
        """The log is the source of truth: repair this writer's tail, then index every
        record of the log the index lacks (a crash after the append, or a lost index)."""
        with self._write_lock:
            self._index.open()
            try:
                self._writer.recover()
                segments, _ = self._log.list_segments()
                counts = self._index.segment_counts()
                for name in segments:
                    data = self._log.read(name.key)
                    if data.count(b"\n") != counts.get(name.key, 0):
                        self._reindex(name.key, data)
            except BaseException:
                self._index.close()
                raise

    def _reindex(self, key: str, data: bytes) -> None:
        rows: list[tuple[IndexedDecision, RecordLocation]] = []
        offset = 0
        for raw in _lines(data):
            try:
                line = decode_line(raw)
                rows.append(
                    (
                        indexed_decision_from_json(line.body),
                        RecordLocation(key, line.seq, offset, len(raw), line.hash),
                    )
                )
            except MalformedLine as exc:
                log.warning("unreadable record left out of the index",
                            extra={"segment": key, "offset": offset, "error": str(exc)})
            offset += len(raw)
        self._index.insert(rows, skip_known=True)
        log.info("re-indexed segment", extra={"segment": key, "records": len(rows)})

    # Writes.

    async def record(self, record: common_pb2.DecisionRecord) -> RecordResult:
        if self._queue is None:
            raise Unavailable("the audit store is not started")
        if self._failure is not None:
            raise Unavailable(f"the audit log cannot be written: {self._failure}")
        decision_id = record.decision.decision_id
        first = self._in_flight.get(decision_id)
        if first is not None:
            # Shielded: a caller giving up must not cancel the write other callers await.
            result = await asyncio.shield(first)
            return RecordResult(result.audit_ref, duplicate=True)
        entry = _Entry(decision_id, canonical_record(record), indexed_decision(record))
        future: asyncio.Future[RecordResult] = asyncio.get_running_loop().create_future()
        self._in_flight[decision_id] = future
        self._queue.put_nowait((entry, future))
        return await asyncio.shield(future)

    async def _run_writer(self, queue: asyncio.Queue[_Queued | None]) -> None:
        stopping = False
        while not stopping:
            item = await queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self._settings.max_batch_records and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[_Queued]) -> None:
        entries = [entry for entry, _ in batch]
        try:
            if self._failure is not None:
                raise self._failure
            results = await asyncio.get_running_loop().run_in_executor(
                self._write_thread, self._commit, entries
            )
        except Exception as exc:
            if self._failure is None:
                log.exception("audit log write failed; refusing further records")
                self._failure = exc
            for _, future in batch:
                future.set_exception(Unavailable(f"the audit log cannot be written: {exc}"))
                # Callers may have given up (deadline); their futures' errors are logged above.
                future.exception()
        else:
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)
        finally:
            for entry in entries:
                self._in_flight.pop(entry.decision_id, None)

    def _commit(self, entries: list[_Entry]) -> list[RecordResult]:
        """In the writer thread: skip what the index already holds, append the rest durably,
        then index it, all under the write lock."""
        with self._write_lock:
            known = self._index.known_refs([entry.decision_id for entry in entries])
            fresh = [entry for entry in entries if entry.decision_id not in known]
            refs: dict[str, str] = {}
            if fresh:
                locations = self._writer.append([e.canonical for e in fresh], self._clock())
                self._index.insert(
                    zip([e.indexed for e in fresh], locations, strict=True)
                )
                self.commit_count += 1
                refs = {
                    e.decision_id: audit_ref(loc.segment, loc.seq)
                    for e, loc in zip(fresh, locations, strict=True)
                }
        return [
            RecordResult(known[e.decision_id], duplicate=True)
            if e.decision_id in known
            else RecordResult(refs[e.decision_id], duplicate=False)
            for e in entries
        ]

    # Reads.

    async def get_context(
        self, user_id: str, device_id: str, ip: str, asn: int, as_of: float
    ) -> LoginContext:
        return await asyncio.to_thread(
            self._read_context, user_id, device_id, ip, asn, as_of
        )

    def _read_context(
        self, user_id: str, device_id: str, ip: str, asn: int, as_of: float
    ) -> LoginContext:
        with self._index.snapshot() as index:
            return index.context(user_id, device_id, ip, asn, as_of, self._bounds)

    async def get_decision(
        self, decision_id: str
    ) -> tuple[common_pb2.DecisionRecord, str] | None:
        return await asyncio.to_thread(self._read_decision, decision_id)

    def _read_decision(self, decision_id: str) -> tuple[common_pb2.DecisionRecord, str] | None:
        with self._index.snapshot() as index:
            location = index.location(decision_id)
        if location is None:
            return None
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
        size = min(page_size or self._settings.list_page_size, self._settings.list_max_page_size)
        return await asyncio.to_thread(self._read_page, filters, size, page_token)

    def _read_page(self, filters: DecisionFilter, size: int, page_token: str) -> DecisionPage:
        with self._index.snapshot() as index:
            return index.page(filters, size, page_token)

    async def verify(self) -> VerifyReport:
        return await asyncio.to_thread(self._verify)

    def _verify(self) -> VerifyReport:
        with self._index.snapshot() as index:
            # Log and index agree between batches: take the chain head and the index state
            # there, then read only what existed at that instant.
            with self._write_lock:
                head = self._writer.head
                index.pin()
            return self._check_log(index, head)

    def _check_log(self, index: IndexSnapshot, head: ChainHead) -> VerifyReport:
        report = VerifyReport()
        segments, strays = self._log.list_segments()
        for key in strays:
            report.problems.append(
                VerifyProblem(ProblemKind.UNREADABLE_SEGMENT, key, "not a segment key")
            )
        by_writer: dict[str, list[SegmentName]] = defaultdict(list)
        for name in segments:
            if not self._after_snapshot(name, head):
                by_writer[name.writer_id].append(name)
        present: set[str] = set()
        for writer_id in sorted(by_writer):
            check = WriterChainCheck(report, writer_id)
            for name in sorted(by_writer[writer_id], key=lambda n: n.first_seq):
                present.add(name.key)
                size = head.open_segment_size if name.key == head.open_segment else None
                try:
                    data = self._log.read(name.key, size)
                except OSError as exc:
                    report.problems.append(
                        VerifyProblem(ProblemKind.UNREADABLE_SEGMENT, name.key, str(exc))
                    )
                    continue
                check.check_segment(name.key, data, index.segment_entries(name.key))
            check.finish()
        check_missing_segments(report, index.segment_ranges(), present)
        return report

    def _after_snapshot(self, name: SegmentName, head: ChainHead) -> bool:
        """A segment this writer opened after verify took its snapshot."""
        return name.writer_id == self._writer.writer_id and name.first_seq > head.seq


def _lines(data: bytes) -> Iterator[bytes]:
    """Lines with their newline. Only a newline ends one: bytes.splitlines also splits on a
    carriage return, which would shift the offsets after a tampered line."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        yield data[start:end]
        start = end
