"""The one storage interface of the audit service; every backend implements AuditStore."""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc

from aegis.v1 import common_pb2
from aegis_domain.types import Action, LoginContext
from aegis_runtime.errors import AlreadyExists, ServiceError
from audit_service.log.proofs import InclusionProof
from audit_service.log.signing import Signer


class LogInconsistent(ServiceError):
    """The index points at a record the log no longer holds as indexed: tampering or loss."""

    code = grpc.StatusCode.DATA_LOSS


class EventConflict(AlreadyExists):
    """A record whose event id was decided for a login with other content: answering it with
    that decision would answer another login."""

    def __init__(self, event_id: str) -> None:
        super().__init__(
            "record.event.event_id",
            f"{event_id!r} was decided for a login with other content; an event id names one "
            "login",
        )


@dataclass(frozen=True, slots=True)
class RecordResult:
    """Where a decision is stored; `duplicate` when it had been recorded before. `decided`
    is set when the record's event id had been decided under another decision id: that
    decision (audit_ref set) stands, and `audit_ref` is its reference."""

    audit_ref: str
    duplicate: bool
    decided: common_pb2.Decision | None = None


@dataclass(frozen=True, slots=True)
class EventClaim:
    """The decision recorded for an event id, and the digest of that event's content."""

    decision_id: str
    digest: str


@dataclass(frozen=True, slots=True)
class ContextQuery:
    """What get_context takes: the login's user and links, and the instant before which."""

    user_id: str
    device_id: str
    ip: str
    asn: int
    as_of: float


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """ListDecisions filters; an empty / None field matches anything. `until` is exclusive."""

    user_id: str = ""
    action: Action | None = None
    country: str = ""
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True, slots=True)
class DecisionSummary:
    """One row of ListDecisions; `event_time` is the event's UTC epoch seconds."""

    decision_id: str
    event_id: str
    user_id: str
    action: int
    risk: float
    event_time: float
    country: str
    audit_ref: str


@dataclass(frozen=True, slots=True)
class ReviewSummary:
    """A recorded review, as the index keeps it; `reviewed_at` is UTC epoch seconds."""

    review_id: str
    decision_id: str
    outcome: int
    action: int
    original_action: int
    reviewer: str
    reason: str
    reviewed_at: float
    audit_ref: str


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    """A decision and its review; `review` is None while the decision waits for one."""

    decision: DecisionSummary
    review: ReviewSummary | None


@dataclass(frozen=True, slots=True)
class ReviewPage:
    """Pending: oldest event first. Decided: latest review first."""

    entries: list[ReviewEntry]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class ReviewQueue:
    """The escalated decisions waiting for a review: how many, and the event time (UTC epoch
    seconds) of the oldest one (None when none waits)."""

    pending: int
    oldest_event_time: float | None


@dataclass(frozen=True, slots=True)
class DecisionPage:
    """Most recent event first; `next_page_token` is empty on the last page."""

    decisions: list[DecisionSummary]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class VerifyProblem:
    """One finding of verify: what (a ProblemKind), where (segment key and line, or audit
    reference) and a human-readable detail."""

    kind: str
    location: str
    detail: str


class ProblemKind(enum.StrEnum):
    """The kinds of VerifyProblem, as listed in audit.proto."""

    HASH_MISMATCH = "HASH_MISMATCH"  # a record's content no longer matches its hash
    CHAIN_BROKEN = "CHAIN_BROKEN"  # prev_hash is not the hash of the record before
    MISSING_RECORD = "MISSING_RECORD"  # a seq gap, or an indexed record gone from the log
    OUT_OF_ORDER = "OUT_OF_ORDER"  # a seq appears after a later one (reordered / inserted)
    DUPLICATE_SEQ = "DUPLICATE_SEQ"  # two records of one writer share a seq (inserted)
    INDEX_MISMATCH = "INDEX_MISMATCH"  # the index holds another decision / hash for a record
    UNINDEXED_RECORD = "UNINDEXED_RECORD"  # a record of the log the index does not know
    UNREADABLE_RECORD = "UNREADABLE_RECORD"  # a line that is not a well-formed record
    UNREADABLE_SEGMENT = "UNREADABLE_SEGMENT"  # a segment that cannot be read or named
    ROOT_MISMATCH = "ROOT_MISMATCH"  # a segment no longer has the Merkle root it was signed with
    UNANCHORED_RECORD = "UNANCHORED_RECORD"  # a record no signed checkpoint covers (inserted)
    BAD_CHECKPOINT = "BAD_CHECKPOINT"  # a checkpoint that is unreadable or wrongly signed


@dataclass(slots=True)
class VerifyReport:
    """Outcome of verify: `ok` exactly when no problem was found."""

    records_checked: int = 0
    segments_checked: int = 0
    problems: list[VerifyProblem] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: ProblemKind, location: str, detail: str) -> None:
        """Report a problem once per kind and location: several checks (chain, signed roots,
        index) may see the same damage."""
        if (kind, location) not in self._seen:
            self._seen.add((kind, location))
            self.problems.append(VerifyProblem(kind=kind, location=location, detail=detail))


class AuditStore(abc.ABC):
    """The decision log and its index: the only owner of audit storage (design invariant 4).

    The log is the source of truth; the index is derived from it and rebuildable. Methods are
    coroutines; callers must `start()` before use and `close()` when done.
    """

    @abc.abstractmethod
    async def start(self) -> None:
        """Open storage and recover: repair a torn tail, re-index what the index lacks."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish the records already accepted, then release storage."""

    async def failed(self) -> str:
        """Returns, saying why, once the store cannot write (a failed write); health then
        says NOT_SERVING until recovered() returns. A store that never fails as a whole (each
        batch retried on its own) never returns."""
        never: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        return await never

    async def recovered(self) -> None:
        """Returns once a failed store writes again; health says SERVING again. A fail-stop
        store (its files may be torn until a restart recovers them) never returns."""
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await never

    @abc.abstractmethod
    async def record(
        self, record: common_pb2.DecisionRecord, deadline: float | None = None,
        context: bytes | None = None,
    ) -> RecordResult:
        """Durably append `record` and index it; return only once it is on stable storage.
        `context` (the LoginContext serialized deterministically, as GetContext served it)
        is written as the record's context in place of `record.context`.

        Idempotent by `record.decision.decision_id`: a repeat (also one still in flight)
        writes nothing and returns the first record's reference with duplicate=True. One
        decision per event id: a record of an event id already decided (or decided earlier
        in the same batch) writes nothing and returns that decision (`decided`), or raises
        EventConflict when the event's content differs from the one decided. The
        record must be valid (see audit_service.validation). `deadline` (time.monotonic()
        seconds) bounds the retries of a remote backend. Raises Unavailable when the log
        cannot be written.
        """

    @abc.abstractmethod
    async def get_context(
        self, user_id: str, device_id: str, ip: str, asn: int, as_of: float
    ) -> LoginContext:
        """The user's history and the login's graph neighbourhood, strictly before `as_of`.

        Empty `device_id` / `ip` and `asn` 0 give no neighbours and no velocity for that link.
        Bounds (counts, ages, windows) come from the store's settings.
        """

    async def get_contexts(self, queries: Sequence[ContextQuery]) -> list[LoginContext]:
        """get_context for each query, in order. Backends that can read many at once (one
        index snapshot, one thread hop) override it."""
        return list(await asyncio.gather(*(
            self.get_context(q.user_id, q.device_id, q.ip, q.asn, q.as_of) for q in queries
        )))

    @abc.abstractmethod
    async def event_claims(self, event_ids: Sequence[str]) -> dict[str, EventClaim]:
        """The decision recorded for each of these event ids that has one."""

    async def contexts_and_claims(
        self, queries: Sequence[ContextQuery], event_ids: Sequence[str]
    ) -> tuple[list[LoginContext], dict[str, EventClaim]]:
        """get_contexts and event_claims at once (GetContext's two reads). Backends that can
        read both in one go (one index snapshot, one thread hop) override it."""
        if not event_ids:
            return await self.get_contexts(queries), {}
        contexts, claims = await asyncio.gather(
            self.get_contexts(queries), self.event_claims(event_ids)
        )
        return contexts, claims

    @abc.abstractmethod
    async def get_decision(
        self, decision_id: str
    ) -> tuple[common_pb2.DecisionRecord, str] | None:
        """The recorded decision and its audit reference, read back from the log; None when
        unknown. Raises LogInconsistent when the index points at a record that is gone."""

    @abc.abstractmethod
    async def list_decisions(
        self, filters: DecisionFilter, page_size: int = 0, page_token: str = ""
    ) -> DecisionPage:
        """Decisions matching `filters`, most recent event first. `page_size` 0 means the
        default; larger than the maximum is reduced to it. Raises InvalidArgument
        (field `page_token`) for a token this store did not issue."""

    @abc.abstractmethod
    async def verify(self) -> VerifyReport:
        """Re-read the whole log: every writer's hash chain, every segment against the Merkle
        root its signed checkpoints state, and the index against the log. Records appended
        while verify runs are left for the next run."""

    @abc.abstractmethod
    async def prove(self, decision_id: str) -> InclusionProof | None:
        """An inclusion proof of the recorded decision (or review); None when unknown.
        Raises Unavailable when no signed checkpoint covers it yet."""

    @property
    @abc.abstractmethod
    def signer(self) -> Signer:
        """The key checkpoints are signed with."""

    @abc.abstractmethod
    async def list_reviews(
        self, decided: bool, page_size: int = 0, page_token: str = ""
    ) -> ReviewPage:
        """Escalated decisions without a review (decided=False, oldest event first), or the
        reviewed decisions (decided=True, latest review first)."""

    @abc.abstractmethod
    async def review_queue(self) -> ReviewQueue:
        """The review queue's depth and oldest entry, read from an index that holds escalated
        decisions only (cheap enough for a gauge: never a scan of the log)."""

    @abc.abstractmethod
    async def review_entry(self, decision_id: str) -> ReviewEntry | None:
        """A recorded decision (not a review) with its review if any; None when unknown."""

    @abc.abstractmethod
    async def rebuild_index(self) -> int:
        """Rebuild the whole index from the log (the store not started); the records indexed."""
