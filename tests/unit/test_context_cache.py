"""The context cache's bookkeeping that the shared context suite cannot reach by timing: a
commit whose rows a concurrent load already read from the index."""

from __future__ import annotations

from aegis_domain.types import Action, LoginEvent, PastLogin
from audit_service.embedded.context_cache import USER, ContextCache, Row, row_of
from audit_service.settings import AuditSettings
from audit_service.storage import ContextQuery

T0 = 1_700_000_000.0


def committed(decision_id: str, ts: float) -> Row:
    event = LoginEvent(event_id=f"ev-{decision_id}", timestamp=ts, user_id="alice",
                       device_id="dev", ip="192.0.2.1", asn=64500)
    return row_of(decision_id, "alice", ts, True, int(Action.ALLOW), 0.1,
                  PastLogin(event, Action.ALLOW, 0.1))


def test_a_commit_already_loaded_from_the_index_is_held_once() -> None:
    row = committed("d-1", T0)
    index = {USER: [row]}  # the index holds it; link keys load a copy without the event

    def load(column: str, key: str | int, limit: int) -> list[Row]:
        return list(index.get(column, [row._replace(past=None)]))

    cache = ContextCache(AuditSettings().context_bounds(), max_rows=1_000)
    query = ContextQuery("alice", "dev", "192.0.2.1", 64500, T0 + 1)
    with cache.lock:
        before = cache.context(query, load)
    # The commit reaches the cache after the load read it from the index.
    cache.add([(row, "dev", "192.0.2.1", 64500)])
    with cache.lock:
        after = cache.context(query, load)
    assert after is not None and before == after
    assert [p.event.event_id for p in after.history] == ["ev-d-1"]
    assert after.velocity.user_attempts == after.velocity.ip_attempts == 1
