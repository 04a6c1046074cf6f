"""The embedded backend's in-memory GetContext (audit_service.embedded.context_cache) gives
the index's answers exactly: on a random world of shared devices, IPs and ASNs, with queries
between commits, replays long before the held rows and a memory bound that evicts keys."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_domain.types import LoginContext
from audit_service.embedded import context_cache
from audit_service.embedded.store import EmbeddedAuditStore
from audit_service.settings import AuditSettings
from audit_service.storage import ContextQuery
from tests.unit.audit_builders import T0, make_record

BOUNDS: dict[str, Any] = {"history_limit": 4, "neighbor_limit": 3, "scan_limit": 12,
          "neighbor_window_s": 3_000.0, "history_max_age_s": 5_000.0, "velocity_window_s": 600}


def random_world(seed: int, logins: int) -> list[pb.DecisionRecord]:
    """Logins of 30 users over few devices, IPs and ASNs (hot keys), timestamps mostly
    increasing with some late arrivals, some failed or flagged."""
    rng = random.Random(seed)
    records = []
    for i in range(logins):
        late = rng.random() < 0.1
        records.append(make_record(
            f"d-{i}", user_id=f"user-{rng.randrange(30)}",
            ts=T0 + i * 20 - (rng.randrange(2_000) if late else 0) + rng.choice((0, 0, 0.5)),
            ip=f"198.51.100.{rng.randrange(6)}", device_id=f"dev-{rng.randrange(40)}",
            asn=rng.choice((0, 64500, 64501)), success=rng.random() > 0.2,
            action=rng.choice((pb.ACTION_ALLOW, pb.ACTION_ALLOW, pb.ACTION_CHALLENGE)),
            risk=round(rng.random(), 3),
        ))
    return records


Query = tuple[str, str, str, int, float]


def random_queries(i: int, rng: random.Random) -> list[Query]:
    """After every fifth commit one random query, as of now or long before."""
    if i % 5:
        return []
    as_of = T0 + i * 20 - rng.choice((0, 0, 10, 20, 3_000))
    return [(f"user-{rng.randrange(30)}", f"dev-{rng.randrange(40)}",
             f"198.51.100.{rng.randrange(7)}", rng.choice((0, 64500, 64502)), as_of)]


def answers(tmp_path: Path, records: list[pb.DecisionRecord], seed: int,
            queries: Callable[[int, random.Random], list[Query]] = random_queries,
            **settings: Any) -> tuple[list[LoginContext], int]:
    """The contexts of `queries(i, rng)` asked after commit i, and how many memory could not
    answer."""
    rng = random.Random(seed)
    store = EmbeddedAuditStore(AuditSettings(data_dir=tmp_path, environment="test",
                                             **{**BOUNDS, **settings}))

    async def scenario() -> list[LoginContext]:
        await store.start()
        try:
            contexts = []
            for i, record in enumerate(records):
                await store.record(record)
                contexts.extend([await store.get_context(*q) for q in queries(i, rng)])
            return contexts
        finally:
            await store.close()

    return asyncio.run(scenario()), store.context_cache_misses


def test_memory_answers_as_the_index_does(tmp_path: Path) -> None:
    records = random_world(seed=7, logins=600)
    from_index, _ = answers(tmp_path / "index", records, seed=3, context_cache_rows=0)
    from_memory, misses = answers(tmp_path / "memory", records, seed=3)
    assert from_memory == from_index
    # Most were answered from memory, the replays long before the held rows from the index.
    assert 0 < misses < len(from_memory) // 3


def test_a_memory_bound_evicts_keys_and_keeps_answers_exact(tmp_path: Path) -> None:
    records = random_world(seed=11, logins=300)
    from_index, _ = answers(tmp_path / "index", records, seed=5, context_cache_rows=0)
    from_memory, _ = answers(tmp_path / "memory", records, seed=5, context_cache_rows=40)
    assert from_memory == from_index


def live_queries(i: int, rng: random.Random) -> list[Query]:
    """After every third commit each ASN's context as of just after it (a live query reads a
    link's newest rows)."""
    return [] if i % 3 else [("user-1", "", "", asn, T0 + i * 20 + 1) for asn in (0, 64500, 64501)]


@pytest.mark.parametrize("busy", [
    # The scan bound cuts each window: the oldest row leaves as a new one arrives.
    {"scan_limit": 80, "neighbor_limit": 5, "neighbor_window_s": 100_000.0},
    # The window's age cuts it (about 80 rows per ASN): rows leave as time moves on.
    {"scan_limit": 1_000, "neighbor_limit": 5, "neighbor_window_s": 5_000.0},
], ids=["by-count", "by-age"])
def test_busy_links_kept_tallied_answer_as_the_index_does(
    tmp_path: Path, busy: dict[str, Any],
) -> None:
    """Links with more rows in the window than a tally's threshold: their neighbours are
    kept as rows arrive (the oldest leaving the scanned window, late arrivals starting over)
    and stay the index's."""
    records = random_world(seed=17, logins=900)
    from_index, _ = answers(tmp_path / "index", records, 0, live_queries,
                            context_cache_rows=0, **busy)
    from_memory, _ = answers(tmp_path / "memory", records, 0, live_queries, **busy)
    assert from_memory == from_index
    assert max(c.asn_users for c in from_index) > 5  # the neighbour bound is reached


@pytest.fixture
def ranked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every window ranked row by row (context_cache._rank), in order."""
    lengths: list[int] = []
    rank = context_cache._rank

    def counted(rows: Any, top: int) -> Any:
        lengths.append(len(rows))
        return rank(rows, top)

    monkeypatch.setattr(context_cache, "_rank", counted)
    return lengths


def one_asn_world(users: int, logins: int) -> list[pb.DecisionRecord]:
    """Logins 20 s apart through one ASN, of `users` users in turn."""
    return [
        make_record(f"d-{i}", user_id=f"user-{i % users}", ts=T0 + i * 20, ip=f"198.51.100.{i}",
                    device_id=f"dev-{i}", asn=64500)
        for i in range(logins)
    ]


def test_a_busy_link_whose_window_is_bounded_by_age_is_not_ranked_per_query(
    tmp_path: Path, ranked: list[int],
) -> None:
    """An ASN with fewer rows in its neighbourhood window than the scan bound (most of them
    on a 30-day window) is tallied like one at the bound: live queries between commits,
    each after a new row, are answered without ranking its window again."""
    records = one_asn_world(users=30, logins=300)

    def live(i: int, rng: random.Random) -> list[Query]:
        return [("user-0", "", "", 64500, T0 + i * 20 + 1)]

    window = {"scan_limit": 1_000, "neighbor_limit": 5, "neighbor_window_s": 2_000.0}
    from_index, _ = answers(tmp_path / "index", records, 0, live, context_cache_rows=0,
                            **window)
    ranked.clear()
    from_memory, _ = answers(tmp_path / "memory", records, 0, live, **window)
    assert from_memory == from_index
    # Only windows below the tally's threshold (the first rows) are ranked row by row.
    assert ranked and max(ranked) < context_cache._TALLY_MIN_ROWS


def test_a_busy_link_whose_rows_arrive_out_of_order_is_ranked_not_tallied_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under load concurrent Scores commit out of time order: a late row drops a link's tally,
    and building one costs several rankings, so a key whose rows keep arriving late is
    ranked per query instead of having its tally built again after every late row."""
    built: list[int] = []
    tally_init = context_cache._Tally.__init__

    def counted(self: Any, rows: Any, start: int) -> None:
        built.append(len(rows))
        tally_init(self, rows, start)

    monkeypatch.setattr(context_cache._Tally, "__init__", counted)
    records = one_asn_world(users=30, logins=300)
    for i, record in enumerate(records):
        if i % 2:  # every other login committed after a newer one
            record.event.timestamp.seconds -= 30

    def live(i: int, rng: random.Random) -> list[Query]:
        return [("user-0", "", "", 64500, T0 + i * 20 + 1)]

    window = {"scan_limit": 1_000, "neighbor_limit": 5, "neighbor_window_s": 100_000.0}
    from_index, _ = answers(tmp_path / "index", records, 0, live, context_cache_rows=0,
                            **window)
    from_memory, _ = answers(tmp_path / "memory", records, 0, live, **window)
    assert from_memory == from_index
    assert built == []


def test_queries_lagging_the_newest_commits_as_a_replay_asks_are_answered_from_memory(
    tmp_path: Path,
) -> None:
    """A replay decides its window out of file order: a login waiting for its user's previous
    one asks about an instant after which a busy ASN already has many rows committed. Memory
    keeps enough of them to answer (it read the index for each such query before)."""
    records = one_asn_world(users=10, logins=120)

    def lagging(i: int, rng: random.Random) -> list[Query]:
        lag = 20  # commits after the query's instant, every one through the ASN
        return [] if i < 40 else [("user-0", "", "", 64500, T0 + (i - lag) * 20 + 1)]

    from_index, _ = answers(tmp_path / "index", records, 0, lagging, context_cache_rows=0)
    from_memory, misses = answers(tmp_path / "memory", records, 0, lagging)
    assert from_memory == from_index
    assert misses == 0


def test_a_window_that_later_commits_leave_alone_is_ranked_once(
    tmp_path: Path, ranked: list[int],
) -> None:
    """Queries about one instant, asked between commits of newer rows through the same ASN
    (a replay's lagging queries), rank its window once: the rows they read are the same."""
    records = one_asn_world(users=10, logins=50)

    def same_instant(i: int, rng: random.Random) -> list[Query]:
        return [] if i < 40 else [("user-0", "", "", 64500, T0 + 35 * 20 + 1)]

    from_index, _ = answers(tmp_path / "index", records, 0, same_instant, context_cache_rows=0)
    from_memory, _ = answers(tmp_path / "memory", records, 0, same_instant)
    assert from_memory == from_index
    assert len(ranked) == 1


def test_what_memory_holds_is_answered_without_a_reader_thread(tmp_path: Path) -> None:
    """A context memory holds, and its event's claim, are served on the event loop: they
    come back while the only reader thread is busy (a long verify or page read)."""
    store = EmbeddedAuditStore(AuditSettings(data_dir=tmp_path, environment="test", **BOUNDS))
    query = ContextQuery("alice", "dev-alice", "192.0.2.1", 64500, T0 + 10)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        await store.start()
        try:
            await store.record(make_record("d-1", ts=T0))
            # The first query loads its keys from the index, in the reader thread.
            [loaded], _ = await store.contexts_and_claims([query], [])
            release = threading.Event()
            busy = loop.run_in_executor(None, release.wait)
            try:
                # A guard against a hang, not a timing: the thread is busy until released.
                [held], claims = await asyncio.wait_for(
                    store.contexts_and_claims([query], ["ev-d-1", "ev-new"]), timeout=60
                )
            finally:
                release.set()
                await busy
            assert held == loaded and [p.event.event_id for p in held.history] == ["ev-d-1"]
            assert list(claims) == ["ev-d-1"] and claims["ev-d-1"].decision_id == "d-1"
        finally:
            await store.close()

    asyncio.run(scenario())
    assert store.context_cache_misses == 0


def committed(data_dir: Path, records: list[pb.DecisionRecord]) -> None:
    store = EmbeddedAuditStore(AuditSettings(data_dir=data_dir, environment="test", **BOUNDS))

    async def commit() -> None:
        await store.start()
        try:
            for record in records:
                await store.record(record)
        finally:
            await store.close()

    asyncio.run(commit())


def restarted(data_dir: Path, now: float, queries: list[tuple[str, str, str, int, float]],
              **settings: Any) -> tuple[list[LoginContext], int]:
    """The contexts of `queries` asked first thing after a start at `now`, and how many keys
    were loaded from the index for them."""
    store = EmbeddedAuditStore(AuditSettings(data_dir=data_dir, environment="test",
                                             **BOUNDS, **settings), clock=lambda: now)

    async def first_queries() -> list[LoginContext]:
        await store.start()
        try:
            return [await store.get_context(*q) for q in queries]
        finally:
            await store.close()

    return asyncio.run(first_queries()), store.context_cache_loads


def test_a_restart_warms_busy_keys_and_answers_them_from_memory(tmp_path: Path) -> None:
    """After a restart a carrier-NAT IP and mobile ASN with more rows than a query scans are
    held before the first query: only the (new) user is loaded, and the answer is the index's."""
    now = T0 + 1_000
    committed(tmp_path, [
        make_record(f"d-{i}", user_id=f"user-{i % 25}", ts=now - 900 + i * 10,
                    ip="100.64.0.1", device_id=f"dev-{i}", asn=64500,
                    success=i % 4 != 0, risk=round(i / 100, 2))
        for i in range(60)
    ])
    query = [("newcomer", "", "100.64.0.1", 64500, now + 5)]
    [from_index], _ = restarted(tmp_path, now, query, context_cache_rows=0)
    [from_memory], loads = restarted(tmp_path, now, query)
    assert from_memory == from_index
    assert from_index.ip_users == 12 and from_index.velocity.ip_attempts == 12
    assert loads == 1  # the user's history; the IP and the ASN were warmed at start


def test_a_restart_holds_recently_seen_users_before_their_first_query(tmp_path: Path) -> None:
    """A user seen within the warm scan's window is held at start: their first login after a
    restart loads nothing from the index (and goes to no reader thread), and the answer,
    history and all, is the index's."""
    now = T0 + 1_000
    committed(tmp_path, [
        make_record(f"d-{i}", user_id=f"user-{i % 5}", ts=now - 900 + i * 10,
                    ip=f"198.51.100.{i % 3}", device_id=f"dev-{i % 5}", asn=64500)
        for i in range(60)
    ])
    queries = [(f"user-{i}", f"dev-{i}", "198.51.100.1", 64500, now + 5) for i in range(5)]
    from_index, _ = restarted(tmp_path, now, queries, context_cache_rows=0)
    from_memory, loads = restarted(tmp_path, now, queries)
    assert from_memory == from_index
    assert all(len(context.history) == BOUNDS["history_limit"] for context in from_index)
    assert loads == 0


@pytest.mark.parametrize("rows", [1_000_000, 60])  # the window cuts the scan; the row bound
def test_warmed_answers_are_the_index_s(tmp_path: Path, rows: int) -> None:
    records = random_world(seed=13, logins=400)
    committed(tmp_path, records)
    now = T0 + 400 * 20
    rng = random.Random(2)
    queries = [(f"user-{rng.randrange(30)}", f"dev-{rng.randrange(40)}",
                f"198.51.100.{rng.randrange(7)}", rng.choice((0, 64500, 64502)),
                now - rng.choice((0, 0, 10, 20, 3_000))) for _ in range(60)]
    from_index, _ = restarted(tmp_path, now, queries, context_cache_rows=0)
    from_memory, _ = restarted(tmp_path, now, queries, context_cache_rows=rows)
    assert from_memory == from_index
