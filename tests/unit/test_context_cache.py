"""The context cache's bookkeeping that the shared context suite cannot reach by timing: a
commit whose rows a concurrent load already read from the index; a link's ranking reused
between commits."""

from __future__ import annotations

from aegis_domain.login_history import column_row
from aegis_domain.types import Action, LoginEvent, PastLogin
from audit_service.embedded.context_cache import USER, USER_ID, ContextCache, Row, row_of
from audit_service.settings import AuditSettings
from audit_service.storage import ContextQuery

T0 = 1_700_000_000.0


def committed(decision_id: str, ts: float, user_id: str = "alice") -> Row:
    event = LoginEvent(event_id=f"ev-{decision_id}", timestamp=ts, user_id=user_id,
                       device_id="dev", ip="192.0.2.1", asn=64500)
    return row_of(decision_id, user_id, ts, True, int(Action.ALLOW), 0.1, "",
                  column_row(PastLogin(event, Action.ALLOW, 0.1)))


def test_a_commit_already_loaded_from_the_index_is_held_once() -> None:
    row = committed("d-1", T0)
    index = {USER: [row]}  # the index holds it; link keys load a copy without the event

    def load(column: str, key: str | int, limit: int) -> list[Row]:
        return list(index.get(column, [(*row[:-1], None)]))

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


def test_a_links_ranking_is_reused_only_until_a_commit_touches_it() -> None:
    """Queries between commits share one ranking of a busy link, each without its own user;
    a commit on the link makes the next query rank it again, even where the link is full
    (its oldest row goes as the new one comes, and the rows scanned sit where they were)."""
    rows = [committed(f"d-{n:02}", T0 + n, f"user-{n:02}") for n in range(40)]

    def load(column: str, key: str | int, limit: int) -> list[Row]:
        held = rows if column != USER else [r for r in rows if r[USER_ID] == key]
        return list(reversed(held))[:limit]

    cache = ContextCache(AuditSettings(scan_limit=3).context_bounds(), max_rows=1_000)

    def neighbours(user_id: str, at: float) -> list[str]:
        with cache.lock:
            context = cache.context(ContextQuery(user_id, "", "", 64500, at), load)
        assert context is not None
        return [n.user_id for n in context.neighbors]

    assert neighbours("user-38", T0 + 50) == ["user-39", "user-37"]
    assert neighbours("user-39", T0 + 50) == ["user-38", "user-37"]
    cache.add([(committed("d-new", T0 + 45, "erin"), "dev-erin", "192.0.2.9", 64500)])
    assert neighbours("user-38", T0 + 50) == ["erin", "user-39"]
