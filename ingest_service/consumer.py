"""The consumer loop: lease shards, read each in order, Score, publish, then checkpoint.

A shard's checkpoint passes a record only once its decision is audited (the router answered)
and published, or its dead letter is written; a crash before that makes the next owner read
the record again, and the router answers a login already decided with the recorded decision.
So the audit log holds one decision per event id, and the output stream may carry a repeat
of a decision, always with the same decision id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aegis.v1 import router_pb2_grpc
from ingest_service.instruments import IngestInstruments
from ingest_service.leases import Lease, LeaseLost, LeaseTable
from ingest_service.publish import PartlyRefused, dead_letter_entry, decision_entry, put_all
from ingest_service.scoring import DeadLetter, Outcome, Retry, Scored, score_record
from ingest_service.settings import IngestSettings
from ingest_service.shards import list_shards, ready_shards

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """What one round did, summed over the shards it read."""

    records: int = 0
    decisions: int = 0
    dead_letters: int = 0
    retries: int = 0
    shards: list[str] = field(default_factory=list)

    def add(self, other: Progress) -> None:
        self.records += other.records
        self.decisions += other.decisions
        self.dead_letters += other.dead_letters
        self.retries += other.retries
        self.shards += other.shards


class Consumer:
    """One consumer task; any number share the input stream through the lease table."""

    def __init__(self, settings: IngestSettings, kinesis: Any, dynamodb: Any,
                 router: router_pb2_grpc.RouterServiceStub,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._kinesis = kinesis
        self._router = router
        self.leases = LeaseTable(dynamodb, settings.lease_table, settings.consumer_id,
                                 settings.lease_s, clock)
        # Shard id -> where to read next; absent: from the checkpoint.
        self._iterators: dict[str, str] = {}
        # Shard id -> the last record settled (None: none yet), and the last record of a
        # closed shard (None while the shard is open).
        self._settled: dict[str, str | None] = {}
        self._ending: dict[str, str | None] = {}
        # Set while the last round found nothing to read: every held shard is caught up.
        self.caught_up = asyncio.Event()
        self.instruments = IngestInstruments(settings.consumer_id, lambda: self.held)

    @property
    def held(self) -> list[str]:
        """The shards this consumer is reading."""
        return sorted(self._iterators)

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until `stop` is set; a round that found nothing waits poll_interval_s."""
        while not stop.is_set():
            try:
                progress = await self.poll_once()
            except (BotoCoreError, ClientError, PartlyRefused):
                # AWS still failing after the retries: nothing past the checkpoints was
                # lost; the next round reads again from them.
                log.exception("round failed")
                self._iterators = dict.fromkeys(self._iterators, "")
                progress = Progress(retries=1)
            if progress.records == 0 and progress.retries == 0:
                self.caught_up.set()
            else:
                self.caught_up.clear()
            # Kinesis allows five GetRecords per shard and second: idle shards wait, and so
            # does a router that asked for a retry.
            if progress.records == 0 or progress.retries:
                await _wait(stop, self.settings.poll_interval_s)
        await self.release_all()

    async def poll_once(self) -> Progress:
        """Take or renew leases, then read one batch of every held shard (shards at once)."""
        await asyncio.to_thread(self._shards_to_hold)
        total = Progress()
        for progress in await asyncio.gather(*(self.read_batch(s) for s in self.held)):
            total.add(progress)
        return total

    async def release_all(self) -> None:
        """Drain: give every lease back, so that another consumer goes on at once."""
        for shard_id in self.held:
            await asyncio.to_thread(self.leases.release, shard_id)
        self._iterators.clear()

    def _shards_to_hold(self) -> list[str]:
        """Shards whose lease this consumer holds or has just taken (renewing the ones it
        reads): finished shards and children of unfinished parents are skipped, and a
        consumer takes no more than its share of the shards (evenly over the live owners),
        taking one from the busiest owner when it has less."""
        shards = list_shards(self._kinesis, self.settings.input_stream)
        leases = {lease.shard_id: lease for lease in self.leases.all()}
        for shard in shards:
            self._ending[shard["ShardId"]] = shard["SequenceNumberRange"].get(
                "EndingSequenceNumber")
        for shard_id in [s for s, lease in leases.items() if lease.finished]:
            self._iterators.pop(shard_id, None)
        ready = ready_shards(shards, leases)
        share = self._share([leases[s] for s in ready if s in leases], len(ready))
        held: list[str] = []
        # Renew the shards this consumer reads first, then take free or expired ones.
        for shard_id in sorted(ready, key=lambda s: s not in self._iterators):
            if shard_id not in self._iterators and len(held) >= share:
                continue
            lease = self.leases.take(shard_id)
            if lease is None:
                self._iterators.pop(shard_id, None)
            else:
                self._follow(lease)
                held.append(shard_id)
        if len(held) < share:
            stolen = self._steal_one(
                [leases[s] for s in ready if s in leases and s not in held], share
            )
            if stolen is not None:
                self._follow(stolen)
                held.append(stolen.shard_id)
        return held

    def _share(self, leases: list[Lease], shards: int) -> int:
        """How many of `shards` this consumer should hold: an even share over the owners of
        live leases and itself, at most MAX_LEASES."""
        now = self.leases.now()
        owners = {lease.owner for lease in leases if lease.expires_at >= now}
        share = math.ceil(shards / len(owners | {self.leases.owner}))
        return min(share, self.settings.max_leases) if self.settings.max_leases else share

    def _steal_one(self, others: list[Lease], share: int) -> Lease | None:
        """One live lease of the owner holding the most, when that is more than `share`."""
        now = self.leases.now()
        live = [lease for lease in others if lease.expires_at >= now]
        counts = Counter(lease.owner for lease in live)
        if not counts:
            return None
        busiest, held = counts.most_common(1)[0]
        if held <= share:
            return None
        return self.leases.steal(next(lease for lease in live if lease.owner == busiest))

    def _follow(self, lease: Lease) -> None:
        """After taking or renewing `lease`: read on, unless another consumer held the shard
        in between (this one stalled past its lease): then from that one's checkpoint."""
        if lease.checkpoint != self._settled.get(lease.shard_id, lease.checkpoint):
            self._iterators[lease.shard_id] = ""
        self._iterators.setdefault(lease.shard_id, "")

    async def read_batch(self, shard_id: str) -> Progress:
        """Read one batch of a held shard: Score, publish, then checkpoint."""
        progress = Progress(shards=[shard_id])
        iterator = self._iterators.get(shard_id) or await asyncio.to_thread(
            self._iterator_at_checkpoint, shard_id
        )
        reply = await asyncio.to_thread(
            self._kinesis.get_records, ShardIterator=iterator, Limit=self.settings.batch_records
        )
        records = reply["Records"]
        self.instruments.read(len(records))
        if "MillisBehindLatest" in reply:
            self.instruments.behind_s[shard_id] = reply["MillisBehindLatest"] / 1000
        outcomes = await self._score_in_user_order(records)
        done = _done_prefix(outcomes)
        progress.records = done
        progress.retries = len(records) - done
        settled = list(zip(outcomes[:done], records, strict=False))
        scored = [o for o, _ in settled if isinstance(o, Scored)]
        dead = [(o, r) for o, r in settled if isinstance(o, DeadLetter)]
        letters = [dead_letter_entry(o, shard_id, r) for o, r in dead]
        progress.decisions, progress.dead_letters = len(scored), len(letters)
        await asyncio.to_thread(self._publish, scored, letters)
        self.instruments.published(
            [(o.repeat, r["ApproximateArrivalTimestamp"]) for o, r in settled
             if isinstance(o, Scored)], datetime.now(UTC),
        )
        self.instruments.dead_lettered(o.kind for o, _ in dead)
        next_iterator = reply.get("NextShardIterator")
        last = records[done - 1]["SequenceNumber"] if done else None
        if last is not None:
            self._settled[shard_id] = last
        finished = done == len(records) and self._read_to_end(shard_id, next_iterator)
        try:
            if done or finished:
                await asyncio.to_thread(self.leases.checkpoint, shard_id, last, finished=finished)
                self.instruments.checkpoint(written=True)
        except LeaseLost:
            log.warning("lease lost", extra={"shard_id": shard_id})
            self.instruments.checkpoint(written=False)
            self._iterators.pop(shard_id, None)
            return progress
        if finished:
            self._iterators.pop(shard_id, None)
        elif done < len(records):
            # Read the rest again from the checkpoint on the next round.
            self._iterators[shard_id] = ""
        else:
            self._iterators[shard_id] = next_iterator or ""
        return progress

    def _read_to_end(self, shard_id: str, next_iterator: str | None) -> bool:
        """Whether a closed shard has been settled to its last record, so that its children
        may start: Kinesis says so with no next iterator; the shard's ending sequence number
        says it too (moto always gives a next iterator)."""
        if next_iterator is None:
            return True
        ending, settled = self._ending.get(shard_id), self._settled.get(shard_id)
        return ending is not None and int(settled or 0) >= int(ending)

    async def _score_in_user_order(self, records: list[dict[str, Any]]) -> list[Outcome]:
        """Score a batch: one user's records one after another in shard order, users at once.
        A user's first Retry leaves that user's later records unscored (Retry too)."""
        by_user: dict[str, list[int]] = defaultdict(list)
        for i, record in enumerate(records):
            by_user[record["PartitionKey"]].append(i)
        outcomes: list[Outcome] = [Retry("not scored")] * len(records)

        async def score_user(indices: list[int]) -> None:
            for i in indices:
                outcome = await score_record(
                    self._router, records[i]["Data"], self.settings.score_timeout_s
                )
                outcomes[i] = outcome
                if isinstance(outcome, Retry):
                    log.warning("score retried", extra={"reason": outcome.reason})
                    return

        await asyncio.gather(*(score_user(indices) for indices in by_user.values()))
        return outcomes

    def _publish(self, scored: list[Scored], letters: list[dict[str, Any]]) -> None:
        within = self.settings.lease_s / 2
        if scored:
            put_all(self._kinesis, self.settings.output_stream,
                    [decision_entry(s) for s in scored], within)
        if letters:
            put_all(self._kinesis, self.settings.dead_letter_stream, letters, within)

    def _iterator_at_checkpoint(self, shard_id: str) -> str:
        lease = self.leases.read(shard_id)
        self._settled[shard_id] = lease.checkpoint if lease is not None else None
        where = {"ShardIteratorType": "TRIM_HORIZON"}
        if lease is not None and lease.checkpoint:
            where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                     "StartingSequenceNumber": lease.checkpoint}
        return str(self._kinesis.get_shard_iterator(
            StreamName=self.settings.input_stream, ShardId=shard_id, **where
        )["ShardIterator"])


def _done_prefix(outcomes: list[Outcome]) -> int:
    """How many leading records are settled (scored or dead-lettered)."""
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, Retry):
            return i
    return len(outcomes)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
