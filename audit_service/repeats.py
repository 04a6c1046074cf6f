"""One decision per event id, for every backend: which records of a batch are new, repeats
of a login already decided, or conflicts; and the recorded decisions GetContext returns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aegis.v1 import common_pb2
from aegis_runtime.errors import ServiceError, Unavailable
from audit_service.group_commit import PendingRecord
from audit_service.index_rows import IndexedDecision
from audit_service.storage import AuditStore, EventClaim, EventConflict, RecordResult

ReadDecision = Callable[[str], "tuple[common_pb2.DecisionRecord, str] | None"]


@dataclass(slots=True)
class SortedBatch:
    """A batch of a group commit, sorted before anything is written."""

    # To append: neither their decision id nor their event id is recorded.
    fresh: list[PendingRecord] = field(default_factory=list)
    # Decision id of a repeat -> the decision id recorded first for its event.
    repeats: dict[str, str] = field(default_factory=dict)
    # Decision id -> the conflict refusing it.
    conflicts: dict[str, EventConflict] = field(default_factory=dict)


def event_ids(entries: Sequence[PendingRecord]) -> list[str]:
    """The event ids of the decisions (not reviews) of a batch."""
    return [e.indexed.event_id for e in entries if isinstance(e.indexed, IndexedDecision)]


def sort_batch(
    entries: Sequence[PendingRecord], known: Mapping[str, str],
    claims: Mapping[str, EventClaim],
) -> SortedBatch:
    """`known`: decision ids already recorded; `claims`: the decisions recorded for the
    batch's event ids. The first record of an event in the batch claims it for the rest."""
    batch = SortedBatch()
    claimed = dict(claims)
    for entry in entries:
        if entry.decision_id in known:
            continue
        indexed = entry.indexed
        if not isinstance(indexed, IndexedDecision):
            batch.fresh.append(entry)
            continue
        claim = claimed.get(indexed.event_id)
        if claim is None:
            claimed[indexed.event_id] = EventClaim(entry.decision_id, indexed.event_digest)
            batch.fresh.append(entry)
        elif claim.digest != indexed.event_digest:
            batch.conflicts[entry.decision_id] = EventConflict(indexed.event_id)
        else:
            batch.repeats[entry.decision_id] = claim.decision_id
    return batch


def batch_results(
    entries: Sequence[PendingRecord], batch: SortedBatch, known: Mapping[str, str],
    written: Mapping[str, str], read_decision: ReadDecision,
) -> list[RecordResult | ServiceError]:
    """One result per entry, in order, once `batch.fresh` is written (`written`: decision id
    -> reference). A repeat is answered with the decision read back from the log."""
    results: list[RecordResult | ServiceError] = []
    for entry in entries:
        decision_id = entry.decision_id
        if decision_id in known:
            results.append(RecordResult(known[decision_id], duplicate=True))
        elif decision_id in batch.conflicts:
            results.append(batch.conflicts[decision_id])
        elif decision_id in batch.repeats:
            results.append(_repeat(batch.repeats[decision_id], read_decision))
        else:
            results.append(RecordResult(written[decision_id], duplicate=False))
    return results


def _repeat(first_id: str, read_decision: ReadDecision) -> RecordResult | ServiceError:
    found = read_decision(first_id)
    if found is None:
        # Recorded but not indexed yet (a failed index write, retried before the next batch).
        return Unavailable(f"decision {first_id} of this event is not readable yet; retry")
    return RecordResult(found[1], duplicate=True, decided=_with_ref(found))


def _with_ref(found: tuple[common_pb2.DecisionRecord, str]) -> common_pb2.Decision:
    record, ref = found
    record.decision.audit_ref = ref
    return record.decision


async def recorded_decisions(
    store: AuditStore, claims: Mapping[str, EventClaim], events: Sequence[tuple[str, str]]
) -> list[common_pb2.Decision | None]:
    """For each (event id, digest): the decision recorded for that event id and content, with
    its audit_ref; None when none is (or one is for other content: Record refuses that).
    `claims` (store.event_claims) come from the same read as the contexts; the log is read
    only for repeats."""

    async def decided(claim: EventClaim) -> common_pb2.Decision | None:
        found = await store.get_decision(claim.decision_id)
        return None if found is None else _with_ref(found)

    hits = {
        index: claims[event_id]
        for index, (event_id, digest) in enumerate(events)
        if event_id in claims and claims[event_id].digest == digest
    }
    found = await asyncio.gather(*(decided(claim) for claim in hits.values()))
    by_index = dict(zip(hits, found, strict=True))
    return [by_index.get(index) for index in range(len(events))]
