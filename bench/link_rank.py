"""CPU of GetContext's neighbours on a busy link that every commit touches, without gRPC:
a `ContextCache` holding one ASN with 1,100 rows of 400 users; each round commits one login
on it and asks a live context there (the neighbours of its 1,000 newest rows). `--held 300`:
an ASN with fewer rows in its 30-day window than the scan bound (most of them), whose window
grows with each commit instead. `--late-every 4`: every fourth commit is a login a second
older than the newest (concurrent Scores commit out of time order under load).

    PYTHONPATH=TREE .venv/bin/python bench/link_rank.py [--rounds 3000] [--held 1100]
        [--late-every N]

Run as a file, so that PYTHONPATH picks the tree measured (before/after: run it per tree,
alternating). Prints µs of CPU per commit + query.
"""

from __future__ import annotations

import argparse
import random
import resource

from audit_service.embedded.context_cache import ASN, ContextCache, Row, row_of
from audit_service.settings import AuditSettings
from audit_service.storage import ContextQuery

T0 = 1_700_000_000.0
USERS = 400


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--held", type=int, default=1100, help="rows on the ASN at the start")
    parser.add_argument("--late-every", type=int, default=0,
                        help="every Nth commit arrives late (0: none)")
    args = parser.parse_args()
    rng = random.Random(1)

    def login(decision_id: str, ts: float) -> Row:
        return row_of(decision_id, f"u-{rng.randrange(USERS)}", ts, rng.random() > 0.2, 1,
                      rng.random(), "", None)

    held = [login(f"d-{i:06}", T0 + i) for i in range(args.held)]

    def load(column: str, key: str | int, limit: int) -> list[Row]:
        return list(reversed(held))[:limit] if column == ASN else []

    cache = ContextCache(AuditSettings().context_bounds(), max_rows=1_000_000)
    now = T0 + len(held)
    with cache.lock:
        cache.context(ContextQuery("u-1", "", "", 64500, now), load)
    start = cpu_seconds()
    for i in range(args.rounds):
        late = args.late_every and i % args.late_every == 0
        cache.add([(login(f"e-{i:06}", now + i - (1.5 if late else 0)), "", "", 64500)])
        with cache.lock:
            cache.context(ContextQuery(f"u-{i % USERS}", "", "", 64500, now + i + 0.5), load)
    print(f"{(cpu_seconds() - start) / args.rounds * 1e6:.1f} µs of CPU per commit + query")


if __name__ == "__main__":
    main()
