"""The stream consumer's metrics: records read, decisions published (new or repeats), dead
letters by kind, checkpoint writes, leases held, lag from put to published, and how far behind
each shard it reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from opentelemetry.metrics import CallbackOptions, Observation

from aegis_runtime.metrics import SECONDS, bind, counter_cells, gauge, histogram
from ingest_service.scoring import DEAD_LETTER_KINDS

# A decision published for the first time, or one the router had recorded before (a record
# read again after a crash or a lease moving).
DECIDED = "decided"
REPEAT = "repeat"
# A checkpoint write: done, or refused because another consumer holds the lease now.
WRITTEN = "written"
LEASE_LOST = "lease_lost"
_ALL = "all"


class IngestInstruments:
    """One consumer's counts; the process's counters are shared by every consumer in it."""

    def __init__(self, consumer_id: str, held: Callable[[], Sequence[str]]) -> None:
        self._consumer = {"consumer": consumer_id}
        self._held = held
        self._read = counter_cells(
            "aegis.ingest.records.read", "{record}", "Records read from the input stream.",
            {_ALL: {}}).cells
        self._decisions = counter_cells(
            "aegis.ingest.decisions", "{decision}",
            "Decisions published to the output stream, by outcome (decided, repeat).",
            bind([DECIDED, REPEAT], "outcome")).cells
        self._dead_letters = counter_cells(
            "aegis.ingest.dead_letters", "{record}",
            "Records written to the dead-letter stream, by kind of reason.",
            bind(DEAD_LETTER_KINDS, "kind")).cells
        self._checkpoints = counter_cells(
            "aegis.ingest.checkpoints", "{write}",
            "Checkpoint writes to the lease table, by result (written, lease_lost).",
            bind([WRITTEN, LEASE_LOST], "result")).cells
        self._lag = histogram(
            "aegis.ingest.lag", "From a record's arrival on the input stream to its decision "
            "published on the output stream.")
        # Shard id -> how far behind its newest record the last read was, in seconds.
        self.behind_s: dict[str, float] = {}
        gauge("aegis.ingest.leases", self._leases, "{lease}", "Shard leases held, by consumer.")
        gauge("aegis.ingest.iterator_age", self._iterator_age, SECONDS,
              "How far behind the newest record of its shard the last read was "
              "(GetRecords' MillisBehindLatest), by shard.")

    def read(self, records: int) -> None:
        self._read[_ALL] += records

    def published(self, decisions: Iterable[tuple[bool, datetime]], now: datetime) -> None:
        """Decisions published at `now`: (whether a repeat, when its record arrived)."""
        for repeat, arrival in decisions:
            self._decisions[REPEAT if repeat else DECIDED] += 1
            # Clocks of this host and Kinesis differ a little: never a negative lag.
            self._lag.record(max(0.0, (now - arrival).total_seconds()))

    def dead_lettered(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self._dead_letters[kind] += 1

    def checkpoint(self, written: bool) -> None:
        self._checkpoints[WRITTEN if written else LEASE_LOST] += 1

    def _leases(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(len(self._held()), self._consumer)]

    def _iterator_age(self, options: CallbackOptions) -> Iterable[Observation]:
        held = set(self._held())
        return [Observation(age, {"shard": shard}) for shard, age in self.behind_s.items()
                if shard in held]
