"""The group committer's hand-offs: results before after_ack, batches formed once the writer
is free."""

from __future__ import annotations

import asyncio
import threading

from aegis_runtime.errors import ServiceError
from audit_service.group_commit import GroupCommitter, PendingRecord
from audit_service.storage import RecordResult
from tests.unit.audit_builders import make_record


def test_records_queued_during_after_ack_share_the_next_commit() -> None:
    batches: list[list[str]] = []
    after_ack_started = threading.Event()
    release = threading.Event()

    def commit(pending: list[PendingRecord]) -> list[RecordResult | ServiceError]:
        batches.append([p.decision_id for p in pending])
        return [RecordResult(f"ref-{p.decision_id}", duplicate=False) for p in pending]

    def after_ack() -> None:
        # Only the first batch's: the test holds the writer there.
        if len(batches) == 1:
            after_ack_started.set()
            release.wait()

    async def scenario() -> list[str]:
        committer = GroupCommitter(commit, 100, fail_stop=True, after_ack=after_ack)
        committer.start()
        try:
            # Acknowledged while its after_ack still holds the writer thread.
            first = await committer.submit(make_record("d-a"), None)
            await asyncio.to_thread(after_ack_started.wait)
            second = asyncio.create_task(committer.submit(make_record("d-b"), None))
            queue = committer._queue
            assert queue is not None
            # Until the writer task has taken d-b from the queue.
            while "d-b" not in committer._in_flight or not queue.empty():
                await asyncio.sleep(0)
            rest = [asyncio.create_task(committer.submit(make_record(f"d-{n}"), None))
                    for n in "cd"]
            release.set()
            results = await asyncio.gather(second, *rest)
            return [first.audit_ref, *(r.audit_ref for r in results)]
        finally:
            release.set()
            await committer.close()

    refs = asyncio.run(scenario())
    assert refs == ["ref-d-a", "ref-d-b", "ref-d-c", "ref-d-d"]
    assert batches == [["d-a"], ["d-b", "d-c", "d-d"]], batches
