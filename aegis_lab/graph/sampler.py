"""Training-time neighbourhoods: what GetContext would have returned for any past login.

The audit service answers GetContext from its index with bounded scans: the user's newest
logins before the event, and per device / IP / ASN the newest rows in a window, grouped by
user. This module reproduces those rules over a whole generated world at once, with a
temporal CSR index per node type and numpy instead of SQL, so that the model is trained on
exactly the kind of neighbourhood it will be served (tests compare the two).
"""

from __future__ import annotations

import numpy as np

from aegis_domain.context_rules import ContextBounds
from aegis_lab.graph.table import LoginTable
from agent_services.network.assemble import Neighbourhoods, group_rows
from agent_services.network.csr import TemporalCSR, ragged_positions
from agent_services.network.graphs import LoginGraphs
from agent_services.network.schema import KEY_TYPES


class NeighbourhoodSampler:
    """The neighbourhood of any login of a table, as GetContext bounds it, in batches."""

    def __init__(self, table: LoginTable, bounds: ContextBounds) -> None:
        self.table = table
        self.bounds = bounds
        self.by_user = TemporalCSR.build(table.user, table.ts, table.users)
        self.by_key = [
            TemporalCSR.build(table.keys[kind], table.ts, count)
            for kind, count in enumerate(table.key_counts)
        ]

    def sample(self, events: np.ndarray) -> LoginGraphs:
        """The graphs of these logins (event numbers), in the order given."""
        return self.neighbourhoods(events).graphs()

    def neighbourhoods(self, events: np.ndarray) -> Neighbourhoods:
        """The raw neighbourhood facts of these logins, in the order given."""
        table, bounds = self.table, self.bounds
        events = np.asarray(events, dtype=np.int64)
        at, user = table.ts[events], table.user[events]

        # History: the newest history_limit logins before `at`, no older than the age bound;
        # truncated when more exist (one more fetched, or older ones cut).
        end = self.by_user.first_at_or_after(user, at)
        fresh = self.by_user.first_at_or_after(user, at - bounds.history_max_age_s)
        kept = np.minimum(bounds.history_limit, end - fresh)
        fetched = np.minimum(end - self.by_user.indptr[user], bounds.history_limit + 1)
        positions, login = ragged_positions(end - kept, end)
        past = self.by_user.rows[positions]

        links = [self._neighbours(kind, events) for kind in range(len(KEY_TYPES))]
        return Neighbourhoods(
            at=at,
            login_successful=table.success[events],
            failed_attempts_before=table.failed_before[events],
            history_truncated=kept < fetched,
            current_keys=table.keys[:, events],
            other_users=np.stack([link[-1] for link in links]),
            history_login=login,
            history_ts=table.ts[past],
            history_failed=~table.success[past],
            history_keys=table.keys[:, past],
            neighbour_login=np.concatenate([link[0] for link in links]),
            neighbour_link=np.concatenate(
                [np.full(len(link[0]), kind) for kind, link in enumerate(links)]
            ),
            neighbour_logins=np.concatenate([link[1] for link in links]),
            neighbour_failures=np.concatenate([link[2] for link in links]),
            neighbour_last_seen=np.concatenate([link[3] for link in links]),
        )

    def _neighbours(self, kind: int, events: np.ndarray) -> tuple[np.ndarray, ...]:
        """(login, logins, failures, last seen) of each listed neighbour over key type
        `kind`, and the distinct other users per login: the newest scan_limit rows of the
        login's key in the window, other users grouped, the neighbor_limit most recently
        seen (ties by user id) listed."""
        table, bounds = self.table, self.bounds
        keys = table.keys[kind, events]
        queries = np.flatnonzero(keys >= 0)
        at = table.ts[events]
        start, end = self.by_key[kind].window(
            keys[queries], at[queries] - bounds.neighbor_window_s, at[queries],
            bounds.scan_limit,
        )
        positions, query = ragged_positions(start, end)
        rows = self.by_key[kind].rows[positions]
        login = queries[query]
        others = table.user[rows] != table.user[events[login]]
        rows, login = rows[others], login[others]
        groups = group_rows(login, table.user[rows], table.ts[rows], ~table.success[rows])
        total = np.bincount(groups.login, minlength=len(events))
        order = np.lexsort((table.user_rank[groups.node], -groups.last, groups.login))
        rank = np.arange(len(order)) - np.searchsorted(groups.login[order], groups.login[order])
        listed = np.sort(order[rank < bounds.neighbor_limit])
        return (groups.login[listed], groups.count[listed], groups.failures[listed],
                groups.last[listed], total)
