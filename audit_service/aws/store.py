"""The AWS backend: S3 segments (one per group commit) and checkpoints, a DynamoDB index."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aegis.v1 import common_pb2
from aegis_domain.types import LoginContext
from aegis_runtime.errors import ServiceError, Unavailable
from audit_service.aws.clients import LONGEST_ATTEMPT_S, Retrier, make_clients
from audit_service.aws.health import WriteHealth
from audit_service.aws.index import DynamoIndex
from audit_service.aws.items import CLAIMED, Item, item_location, number, text
from audit_service.aws.segments import S3Log
from audit_service.aws.setup import create_table, table_exists
from audit_service.group_commit import GroupCommitter, PendingRecord
from audit_service.index_rows import (
    IndexedDecision,
    IndexedEntry,
    IndexedReview,
    RecordLocation,
    indexed_entry_from_json,
    record_id,
)
from audit_service.log.chain import (
    GENESIS_HASH,
    ChainedLine,
    MalformedLine,
    decode_line,
    encode_line,
)
from audit_service.log.checkpoints import (
    BadCheckpoint,
    Checkpoint,
    SegmentAnchor,
    SignedCheckpoint,
    head_checkpoint,
    open_checkpoint,
)
from audit_service.log.layout import (
    ROOT,
    SegmentName,
    audit_ref,
    checkpoint_object_key,
    checkpoint_object_prefix,
    parse_checkpoint_object_key,
    parse_segment_key,
    segment_key,
    utc_day,
)
from audit_service.log.merkle import leaf_hash, merkle_root
from audit_service.log.proofs import InclusionProof, build_proof, segment_lines
from audit_service.log.signing import Signer
from audit_service.log.verify import WriterChainCheck, open_checkpoints
from audit_service.repeats import batch_results, event_ids, sort_batch
from audit_service.settings import AuditSettings
from audit_service.storage import (
    AuditStore,
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

# S3 and DynamoDB calls run in threads; reads of one GetContext fan out over several.
_POOL_THREADS = 32
# A proof looks at the first checkpoints at or after its record; one of them covers it.
_PROOF_CHECKPOINTS = 4
# How far writers' clocks may disagree: a claim's age is read on another writer's clock.
_CLOCK_SKEW_S = 5.0


@dataclass(frozen=True, slots=True)
class _Segment:
    """One group commit as one S3 object, and what the index needs of its records."""

    key: str
    body: bytes
    rows: list[tuple[IndexedEntry, RecordLocation]]
    prev_hash: str
    head: tuple[int, str]
    anchor: SegmentAnchor
    recorded_at: float


class AwsAuditStore(AuditStore):
    """AuditStore on S3 and DynamoDB.

    Each group commit is one segment object `audit/{day}/{env}/{writer}-{first_seq}.jsonl`,
    created with If-None-Match (so two processes with one writer id cannot overwrite each
    other). Callers are acknowledged once that PUT succeeded; then the checkpoint
    `checkpoints/{env}/{writer}/{seq}.json` is signed and the index written. A failed
    checkpoint or index write does not fail the (durable) records: it is retried before the
    next batch, and at start-up. A PUT whose outcome is unknown fails its batch and is
    settled (read back) before the next one.

    One decision per event id across writers: a batch's new decisions claim their event ids
    (conditional puts) before the PUT, and the PUT gives up well within the claims' lease; a
    claim older than the lease whose segment lacks its record was left by a crash before the
    PUT, and another decision may take it (see _abandoned).

    Health: a failed commit makes the store NOT_SERVING; it keeps trying each batch, and
    probes every `aws_probe_s` (settles the unknown PUT, writes the pending checkpoint and
    index items, reaches the bucket and the table), so that it says SERVING again once S3
    and DynamoDB answer, even when no traffic comes while it is out of rotation.
    """

    def __init__(
        self, settings: AuditSettings, clock: Callable[[], float] = time.time,
        clients: tuple[Any, Any] | None = None,
    ) -> None:
        if not settings.s3_bucket or not settings.dynamodb_table:
            raise ValueError("the aws backend needs AEGIS_AUDIT_S3_BUCKET and "
                             "AEGIS_AUDIT_DYNAMODB_TABLE")
        self._settings = settings
        self._bounds = settings.context_bounds()
        self._clock = clock
        self._signer = settings.signer()
        s3, ddb = clients or make_clients(settings)
        self._ddb = ddb
        self._retrier = Retrier(settings.aws_retry_s)
        self._pool = ThreadPoolExecutor(_POOL_THREADS, thread_name_prefix="audit-aws")
        self._log = S3Log(s3, settings.s3_bucket, self._retrier)
        self._index = DynamoIndex(
            ddb, settings.dynamodb_table, self._retrier, self._pool,
            settings.hot_users, settings.hot_user_shards,
        )
        self._environment = settings.environment
        self._writer_id = settings.writer_id
        self._write_lock = threading.Lock()
        self._health = WriteHealth()
        self._prober: asyncio.Task[None] | None = None
        self._committer = GroupCommitter(
            self._commit_noting_health, settings.max_batch_records, fail_stop=False
        )
        self._head: tuple[int, str] = (0, GENESIS_HASH)
        self._uncertain: _Segment | None = None
        self._unsigned: list[SegmentAnchor] = []
        self._unindexed: list[_Segment] = []
        self._unindexed_refs: dict[str, str] = {}
        # Events decided in segments not indexed yet: they are decided all the same.
        self._unindexed_claims: dict[str, EventClaim] = {}

    @property
    def signer(self) -> Signer:
        return self._signer

    # Lifecycle.

    async def start(self) -> None:
        await asyncio.to_thread(self._recover)
        self._health.bind(asyncio.get_running_loop())
        self._committer.start()
        self._prober = asyncio.create_task(self._probe_while_down(), name="audit-aws-probe")

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
        await self._committer.close()
        await asyncio.to_thread(self._settle_quietly)
        self._pool.shutdown()

    def _recover(self) -> None:
        """Find this writer's head from its newest checkpoint, sign and index the segments
        written after it (a crash between the PUT and the checkpoint), then index what the
        newest signed segments still lack."""
        self._log.check_bucket()
        if not self._index.exists():
            raise RuntimeError(f"table {self._settings.dynamodb_table} does not exist: run "
                               "`aegis audit init`, or `aegis audit rebuild-index`")
        with self._write_lock:
            signed = self._signed_head()
            self._head = (signed.seq, signed.head_hash) if signed else (0, GENESIS_HASH)
            for name, data in self._unsigned_segments(signed):
                try:
                    segment = _segment_of(name, data, self._clock(), strict=True)
                except MalformedLine as exc:
                    raise RuntimeError(f"{name.key}: {exc}; run verify") from None
                if name.first_seq != self._head[0] + 1 or segment.prev_hash != self._head[1]:
                    raise RuntimeError(f"{name.key} does not continue the chain at seq "
                                       f"{self._head[0]}; run verify")
                self._head = segment.head
                self._unindexed.append(segment)
                if signed is not None:
                    self._unsigned.append(segment.anchor)
            if self._unsigned:
                # Acknowledged (the PUT succeeded) before a crash stopped their checkpoint.
                log.warning("signing segments left unsigned by a crash",
                            extra={"segments": [a.key for a in self._unsigned]})
            elif signed is None and self._unindexed:
                # Signing them now would launder deleted checkpoints: verify reports them.
                log.error("this writer's segments have no checkpoint; run verify")
            self._sign(recovered=True)
            self._index_unindexed(None)
            self._repair_index()

    async def failed(self) -> str:
        why = await self._health.wait_down()
        return f"the audit log cannot be written: {why}"

    async def recovered(self) -> None:
        await self._health.wait_up()

    async def _probe_while_down(self) -> None:
        while True:
            await self._health.wait_down()
            await asyncio.sleep(self._settings.aws_probe_s)
            try:
                await asyncio.to_thread(self._probe)
            except Exception as exc:
                log.warning("audit storage still failing", extra={"error": str(exc)})
            else:
                log.info("audit storage answers again")
                self._health.note_success()

    def _probe(self) -> None:
        """Raises unless the next commit may succeed: the unknown PUT settled, the pending
        checkpoint and index writes done, bucket and table reachable."""
        deadline = time.monotonic() + self._settings.aws_probe_s
        with self._write_lock:
            self._settle_uncertain(deadline)
            self._sign()
            self._index_unindexed(deadline)
        self._log.check_bucket(deadline)
        if not self._index.exists(deadline):
            raise RuntimeError(f"table {self._settings.dynamodb_table} does not exist")

    def _signed_head(self) -> Checkpoint | None:
        prefix = checkpoint_object_prefix(self._environment, self._writer_id)
        for stored in reversed(self._log.checkpoint_keys(prefix)):
            try:
                return open_checkpoint(self._read_checkpoint(stored.key), self._signer.public_key)
            except BadCheckpoint as exc:
                log.error("skipping a checkpoint that does not open",
                          extra={"key": stored.key, "error": str(exc)})
        return None

    def _read_checkpoint(self, key: str) -> SignedCheckpoint:
        data = self._log.get(key)
        if data is None:
            raise BadCheckpoint(f"{key} is gone")
        return SignedCheckpoint.from_json(data)

    def _unsigned_segments(
        self, signed: Checkpoint | None
    ) -> Iterator[tuple[SegmentName, bytes]]:
        """This writer's segments after its signed head, in chain order. They can only have
        been written since the day of its newest signed segment; a writer without any
        checkpoint is looked for since yesterday (a crash before its first checkpoint), for
        a whole bucket is too much to list at every start."""
        today = datetime.fromtimestamp(self._clock(), UTC).date()
        newest = parse_segment_key(signed.segments[-1].key) if signed and signed.segments else None
        first = (datetime.strptime(newest.day, "%Y/%m/%d").date() if newest
                 else today - timedelta(days=1))
        head_seq = signed.seq if signed else 0
        own = sorted(
            (
                name
                for day in _days(first, today)
                for name, _ in self._log.segments(
                    f"{ROOT}/{day:%Y/%m/%d}/{self._environment}/{self._writer_id}-"
                )[0]
                if name.writer_id == self._writer_id and name.first_seq > head_seq
            ),
            key=lambda name: name.first_seq,
        )
        for name in own:
            data = self._log.get(name.key)
            if data is not None:
                yield name, data

    def _repair_index(self) -> None:
        """Index the newest signed segments the index lacks (a crash before their index
        writes), walking back until one is complete."""
        prefix = checkpoint_object_prefix(self._environment, self._writer_id)
        for stored in reversed(self._log.checkpoint_keys(prefix)):
            try:
                checkpoint = open_checkpoint(self._read_checkpoint(stored.key),
                                             self._signer.public_key)
            except BadCheckpoint:
                continue
            complete = True
            for anchor in checkpoint.segments:
                name = parse_segment_key(anchor.key)
                data = self._log.get(anchor.key)
                if name is None or data is None:
                    continue
                segment = _segment_of(name, data, self._clock())
                ids = [record_id(entry) for entry, _ in segment.rows]
                if len(self._index.known_refs(ids)) < len(ids):
                    complete = False
                    self._index.write(segment.rows, segment.recorded_at)
            if complete:
                return

    # Writes.

    async def record(
        self, record: common_pb2.DecisionRecord, deadline: float | None = None,
        context: bytes | None = None,
    ) -> RecordResult:
        return await self._committer.submit(record, deadline, context)

    def _commit_noting_health(
        self, entries: list[PendingRecord]
    ) -> list[RecordResult | ServiceError]:
        try:
            results = self._commit(entries)
        except Exception as exc:
            self._health.note_failure(str(exc))
            raise
        self._health.note_success()
        return results

    def _commit(self, entries: list[PendingRecord]) -> list[RecordResult | ServiceError]:
        deadlines = [e.deadline for e in entries]
        deadline = (self._retrier.deadline() if None in deadlines
                    else max(d for d in deadlines if d is not None))
        with self._write_lock:
            self._settle_uncertain(deadline)
            self._settle_quietly(deadline)
            ids = [e.decision_id for e in entries]
            known = self._index.known_refs(ids, deadline)
            known |= {i: self._unindexed_refs[i] for i in ids if i in self._unindexed_refs}
            events = event_ids(entries)
            claims = {e: self._unindexed_claims[e] for e in events
                      if e in self._unindexed_claims}
            claims |= self._index.event_claims(events, deadline)
            batch = sort_batch(entries, known, claims)
            refs: dict[str, str] = {}
            now, claimed = self._clock(), time.monotonic()
            lost = self._claim(batch.fresh, now, deadline)
            if lost:
                batch = sort_batch(entries, known, claims | lost)
            if batch.fresh:
                segment = self._encode(batch.fresh, now)
                # Landed or failed before the claims can be seen as abandoned.
                put_by = min(deadline, claimed + self._settings.aws_claim_lease_s
                             - LONGEST_ATTEMPT_S - _CLOCK_SKEW_S)
                if time.monotonic() >= put_by:
                    raise Unavailable("claiming the events took the time of the PUT")
                self._uncertain = segment
                self._log.put_new(segment.key, segment.body, put_by)
                self._uncertain = None
                known |= self._durable(segment, deadline)
                refs = {
                    record_id(entry): audit_ref(loc.segment, loc.seq)
                    for entry, loc in segment.rows
                }
            return batch_results(entries, batch, known, refs, self._read_decision)

    def _claim(self, fresh: list[PendingRecord], now: float, deadline: float
               ) -> dict[str, EventClaim]:
        """Claim the events of the new decisions for the segment written at `now`. Returns
        event id -> the decision of another claim that holds it: those records are repeats
        or conflicts, and not written."""
        rows = [e.indexed for e in fresh if isinstance(e.indexed, IndexedDecision)]
        if not rows:
            return {}
        key = self._segment_key(now)
        held = self._index.claims.claim(rows, key, now, deadline)
        lost: dict[str, EventClaim] = {}
        for row in rows:
            holder: Item | None = held.get(row.event_id)
            if holder is not None and self._abandoned(holder, deadline):
                holder = self._index.claims.take_over(row, key, now, holder, deadline)
            if holder is not None:
                lost[row.event_id] = EventClaim(text(holder, "decision_id"),
                                                text(holder, "digest"))
        return lost

    def _abandoned(self, holder: Item, deadline: float) -> bool:
        """Whether a claim's record will never be written: the claim is older than the
        lease (its writer's PUT has landed or failed by now) and its segment does not hold
        the record. A stale claim whose record is there (its writer crashed before indexing
        it) stands, and that segment is indexed here."""
        if (text(holder, "state") != CLAIMED
                or self._clock() - number(holder, "claimed_at") < self._settings.aws_claim_lease_s):
            return False
        name = parse_segment_key(text(holder, "segment"))
        data = self._log.get(name.key, deadline) if name else None
        if name is None or data is None:
            return True
        segment = _segment_of(name, data, self._clock())
        if text(holder, "decision_id") not in {record_id(entry) for entry, _ in segment.rows}:
            return True
        self._index.write(segment.rows, segment.recorded_at, deadline)
        return False

    def _segment_key(self, now: float) -> str:
        return segment_key(utc_day(now), self._environment, self._writer_id, self._head[0] + 1)

    def _encode(self, fresh: list[PendingRecord], now: float) -> _Segment:
        seq, prev_hash = self._head
        key = self._segment_key(now)
        lines: list[bytes] = []
        rows: list[tuple[IndexedEntry, RecordLocation]] = []
        offset = 0
        for entry in fresh:
            seq += 1
            line, prev_hash = encode_line(entry.canonical, seq, prev_hash)
            rows.append((entry.indexed, RecordLocation(key, seq, offset, len(line), prev_hash)))
            lines.append(line)
            offset += len(line)
        root = merkle_root([leaf_hash(location.hash) for _, location in rows])
        anchor = SegmentAnchor(key, self._head[0] + 1, len(rows), root.hex())
        return _Segment(key, b"".join(lines), rows, self._head[1], (seq, prev_hash), anchor, now)

    def _durable(self, segment: _Segment, deadline: float | None) -> dict[str, str]:
        """The segment is in S3: advance the head, sign it, index it. Returns the records
        another writer had indexed first (id -> their reference)."""
        self._head = segment.head
        self._unsigned.append(segment.anchor)
        self._unindexed.append(segment)
        self._unindexed_refs |= {
            record_id(entry): audit_ref(loc.segment, loc.seq) for entry, loc in segment.rows
        }
        self._unindexed_claims |= {
            entry.event_id: EventClaim(entry.decision_id, entry.event_digest)
            for entry, _ in segment.rows if isinstance(entry, IndexedDecision)
        }
        try:
            self._sign()
        except Exception:
            log.exception("checkpoint not written; retried before the next batch")
        try:
            return self._index_unindexed(deadline)
        except Exception:
            log.exception("index not written; retried before the next batch")
            return {}

    def _settle_uncertain(self, deadline: float | None) -> None:
        """Before a batch: learn whether a PUT with an unknown outcome landed; if it did
        not, give up the claims of its records (a retry claims them again)."""
        if self._uncertain is not None:
            segment = self._uncertain
            stored = self._log.get(segment.key, deadline)
            if stored is not None and stored != segment.body:
                raise Unavailable(f"{segment.key} holds another writer's records: is writer id "
                                  f"{self._writer_id} used twice?")
            if stored is None:
                self._index.claims.release(
                    [e for e, _ in segment.rows if isinstance(e, IndexedDecision)],
                    segment.key, deadline,
                )
            self._uncertain = None
            if stored is not None:
                self._durable(segment, deadline)

    def _settle_quietly(self, deadline: float | None = None) -> None:
        try:
            self._sign()
            self._index_unindexed(deadline)
        except Exception:
            log.exception("checkpoint or index still not written")

    def _sign(self, *, recovered: bool = False) -> None:
        if not self._unsigned:
            return
        signed = head_checkpoint(
            self._signer, self._environment, self._writer_id, self._head, self._unsigned,
            self._clock(), recovered=recovered,
        )
        key = checkpoint_object_key(self._environment, self._writer_id, self._head[0])
        self._log.put_new(key, signed.to_json())
        self._unsigned = []

    def _index_unindexed(self, deadline: float | None) -> dict[str, str]:
        duplicates: dict[str, str] = {}
        while self._unindexed:
            segment = self._unindexed[0]
            duplicates |= self._index.write(segment.rows, segment.recorded_at, deadline)
            self._unindexed.pop(0)
            for entry, _ in segment.rows:
                self._unindexed_refs.pop(record_id(entry), None)
                if isinstance(entry, IndexedDecision):
                    self._unindexed_claims.pop(entry.event_id, None)
        return duplicates

    async def rebuild_index(self) -> int:
        return await asyncio.to_thread(self._rebuild_index)

    def _rebuild_index(self) -> int:
        """Make the table if it is gone, then index every record of every segment; reviews
        last, as they link to decisions indexed before."""
        if not table_exists(self._ddb, self._settings.dynamodb_table):
            create_table(self._ddb, self._settings.dynamodb_table)
        segments, _ = self._log.segments()
        reviews: list[tuple[_Segment, list[tuple[IndexedEntry, RecordLocation]]]] = []
        count = 0
        for name, _ in sorted(segments, key=lambda s: (s[0].writer_id, s[0].first_seq)):
            data = self._log.get(name.key)
            if data is None:
                continue
            segment = _segment_of(name, data, self._clock())
            decisions = [row for row in segment.rows if not isinstance(row[0], IndexedReview)]
            self._index.write(decisions, segment.recorded_at)
            reviews.append((segment, [row for row in segment.rows if row not in decisions]))
            count += len(segment.rows)
        for segment, rows in reviews:
            if rows:
                self._index.write(rows, segment.recorded_at)
        return count

    # Reads.

    async def get_context(
        self, user_id: str, device_id: str, ip: str, asn: int, as_of: float
    ) -> LoginContext:
        return await self._in_pool(
            self._index.context, user_id, device_id, ip, asn, as_of, self._bounds
        )

    async def _in_pool(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def event_claims(self, wanted: Sequence[str]) -> dict[str, EventClaim]:
        claims: dict[str, EventClaim] = await self._in_pool(self._index.event_claims, wanted)
        return claims

    async def get_decision(
        self, decision_id: str
    ) -> tuple[common_pb2.DecisionRecord, str] | None:
        found: tuple[common_pb2.DecisionRecord, str] | None = await self._in_pool(
            self._read_decision, decision_id
        )
        return found

    def _read_decision(self, decision_id: str) -> tuple[common_pb2.DecisionRecord, str] | None:
        item = self._index.get(decision_id)
        if item is None:
            return None
        location = item_location(item)
        ref = audit_ref(location.segment, location.seq)
        try:
            line = decode_line(
                self._log.get_range(location.segment, location.offset, location.length)
            )
        except Exception as exc:
            raise LogInconsistent(f"{ref}: the indexed record cannot be read ({exc})") from None
        if line.seq != location.seq or line.recomputed_hash() != location.hash:
            raise LogInconsistent(f"{ref}: the log no longer holds the record as indexed")
        return line.record(), ref

    def _page_size(self, page_size: int) -> int:
        return min(page_size or self._settings.list_page_size, self._settings.list_max_page_size)

    async def list_decisions(
        self, filters: DecisionFilter, page_size: int = 0, page_token: str = ""
    ) -> DecisionPage:
        page: DecisionPage = await self._in_pool(
            self._index.page, filters, self._page_size(page_size), page_token
        )
        return page

    async def list_reviews(
        self, decided: bool, page_size: int = 0, page_token: str = ""
    ) -> ReviewPage:
        page: ReviewPage = await self._in_pool(
            self._index.reviews, decided, self._page_size(page_size), page_token
        )
        return page

    async def review_queue(self) -> ReviewQueue:
        queue: ReviewQueue = await self._in_pool(self._index.review_queue)
        return queue

    async def review_entry(self, decision_id: str) -> ReviewEntry | None:
        entry: ReviewEntry | None = await self._in_pool(self._index.review_entry, decision_id)
        return entry

    # The verifiable log.

    async def prove(self, decision_id: str) -> InclusionProof | None:
        proof: InclusionProof | None = await self._in_pool(self._prove, decision_id)
        return proof

    def _prove(self, decision_id: str) -> InclusionProof | None:
        item = self._index.get(decision_id)
        if item is None:
            return None
        location = item_location(item)
        name = parse_segment_key(location.segment)
        data = self._log.get(location.segment)
        if name is None or data is None:
            raise LogInconsistent(f"{location.segment}: the indexed segment is gone")
        prefix = checkpoint_object_prefix(name.environment, name.writer_id)
        after = checkpoint_object_key(name.environment, name.writer_id, location.seq - 1)
        for _, stored in zip(range(_PROOF_CHECKPOINTS), self._log.objects(prefix, after),
                             strict=False):
            signed = self._read_checkpoint(stored.key)
            anchor = open_checkpoint(signed, self._signer.public_key).anchor(location.segment)
            if anchor is not None and anchor.last_seq >= location.seq:
                return build_proof(decision_id, location.segment, data, location.seq, signed,
                                   anchor.records)
        raise Unavailable(f"no signed checkpoint covers {audit_ref(name.key, location.seq)} yet")

    async def verify(self) -> VerifyReport:
        report: VerifyReport = await self._in_pool(self._verify)
        return report

    def _verify(self) -> VerifyReport:
        with self._write_lock:
            # This writer's records after this point are left for the next run.
            own_head = self._head[0]
        started = time.time()  # compared with S3's LastModified
        report = VerifyReport()
        segments, strays = self._log.segments()
        for key in strays:
            report.add(ProblemKind.UNREADABLE_SEGMENT, key, "not a segment key")
        anchors = open_checkpoints(self._stored_checkpoints(own_head), self._signer.public_key,
                                   report)
        by_writer: dict[str, list[tuple[SegmentName, float]]] = defaultdict(list)
        for name, modified in segments:
            if not (name.writer_id == self._writer_id and name.first_seq > own_head):
                by_writer[name.writer_id].append((name, modified))
        for writer_id in sorted(by_writer.keys() | anchors.keys()):
            writer_anchors = anchors.get(writer_id)
            ordered = sorted(by_writer[writer_id], key=lambda s: s[0].first_seq)
            if ordered and writer_id != self._writer_id:
                newest, modified = ordered[-1]
                unsigned = writer_anchors is None or newest.key not in writer_anchors.claims
                if unsigned and started - modified < self._settings.anchor_grace_s:
                    # Another writer's newest segment; its checkpoint follows the PUT.
                    ordered.pop()
            check = WriterChainCheck(report, writer_id, writer_anchors)
            datas = self._pool.map(lambda s: self._log.get(s[0].key), ordered)
            for (name, _), data in zip(ordered, datas, strict=True):
                if data is None:
                    report.add(ProblemKind.UNREADABLE_SEGMENT, name.key, "gone while verifying")
                    continue
                ids = [line.decision_id for line in _readable(data, name.key)]
                check.check_segment(name.key, data, self._index.segment_entries(name.key, ids))
            check.finish()
        return report

    def _stored_checkpoints(
        self, own_head: int
    ) -> list[tuple[str, SignedCheckpoint | BadCheckpoint]]:
        keys = []
        for stored in self._log.checkpoint_keys():
            parsed = parse_checkpoint_object_key(stored.key)
            if parsed and parsed[1] == self._writer_id and parsed[2] > own_head:
                continue
            keys.append(stored.key)

        def read(key: str) -> tuple[str, SignedCheckpoint | BadCheckpoint]:
            try:
                return key, self._read_checkpoint(key)
            except BadCheckpoint as exc:
                return key, exc

        return list(self._pool.map(read, keys))


def _readable(data: bytes, key: str) -> list[ChainedLine]:
    lines = []
    for raw in segment_lines(data):
        try:
            lines.append(decode_line(raw))
        except MalformedLine as exc:
            log.warning("unreadable record left out", extra={"segment": key, "error": str(exc)})
    return lines


def _segment_of(name: SegmentName, data: bytes, recorded_at: float, *,
                strict: bool = False) -> _Segment:
    """A segment read back from S3, as the index and the checkpoints need it. Unreadable
    lines are left out (logged), or with `strict` raise MalformedLine."""
    rows: list[tuple[IndexedEntry, RecordLocation]] = []
    lines: list[ChainedLine] = []
    offset = 0
    for raw in segment_lines(data):
        try:
            line = decode_line(raw)
            rows.append((indexed_entry_from_json(line.body),
                         RecordLocation(name.key, line.seq, offset, len(raw) + 1, line.hash)))
            lines.append(line)
        except MalformedLine as exc:
            if strict:
                raise
            log.warning("unreadable record left out", extra={"segment": name.key,
                                                             "error": str(exc)})
        offset += len(raw) + 1
    root = merkle_root([leaf_hash(line.hash) for line in lines])
    prev_hash = lines[0].prev_hash if lines else GENESIS_HASH
    head = (lines[-1].seq, lines[-1].hash) if lines else (name.first_seq - 1, prev_hash)
    anchor = SegmentAnchor(name.key, name.first_seq, len(lines), root.hex())
    return _Segment(name.key, data, rows, prev_hash, head, anchor, recorded_at)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
