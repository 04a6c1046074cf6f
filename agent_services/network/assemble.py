"""One assembly of login graphs from raw neighbourhood facts, for training and serving alike.

The training sampler (from a CSR index over a whole world) and the serving path (from one
GetContext answer per login) each gather the same raw facts in columns; this module alone
turns them into node features and graphs, so that the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent_services.network.graphs import LoginGraphs
from agent_services.network.schema import (
    KEY_FEATURES,
    KEY_TYPES,
    event_features,
    key_features,
    user_features,
)


@dataclass(frozen=True, slots=True)
class _Groups:
    """Rows aggregated per (login, node): one entry per distinct pair."""

    login: np.ndarray
    node: np.ndarray
    count: np.ndarray
    failures: np.ndarray
    first: np.ndarray
    last: np.ndarray


def group_rows(login: np.ndarray, node: np.ndarray, ts: np.ndarray, failed: np.ndarray) -> _Groups:
    """Aggregate rows by (login, node): count, failures, first and last time; ordered by login
    then node."""
    if len(login) == 0:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return _Groups(empty_i, empty_i, empty_i, empty_i, empty_f, empty_f)
    # One integer key and an unstable sort: several times faster than lexsort on two keys,
    # and the aggregates do not depend on the order within a group.
    key = login.astype(np.int64) * (int(node.max()) + 1) + node
    order = np.argsort(key)
    key, login, node, ts, failed = key[order], login[order], node[order], ts[order], failed[order]
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    return _Groups(
        login=login[starts],
        node=node[starts],
        count=np.diff(np.append(starts, len(login))),
        failures=np.add.reduceat(failed.astype(np.int64), starts),
        first=np.minimum.reduceat(ts, starts),
        last=np.maximum.reduceat(ts, starts),
    )


@dataclass(frozen=True, slots=True)
class Neighbourhoods:
    """The raw facts of B logins' neighbourhoods in columns: a GetContext answer reduced to
    what the graph uses. Keys are integer codes, equal for equal keys of a type; -1 is none.

    Per login [B]: `at`, `login_successful`, `failed_attempts_before`, `history_truncated`;
    per key type and login [3, B]: `current_keys`, `other_users` (distinct other users of the
    current key). History rows [H] and neighbour rows [N] name their login, in any order.
    """

    at: np.ndarray
    login_successful: np.ndarray
    failed_attempts_before: np.ndarray
    history_truncated: np.ndarray
    current_keys: np.ndarray
    other_users: np.ndarray
    history_login: np.ndarray
    history_ts: np.ndarray
    history_failed: np.ndarray
    history_keys: np.ndarray
    neighbour_login: np.ndarray
    neighbour_link: np.ndarray
    neighbour_logins: np.ndarray
    neighbour_failures: np.ndarray
    neighbour_last_seen: np.ndarray

    def graphs(self) -> LoginGraphs:
        """The logins' graphs: target user, current and past keys, neighbours."""
        at = np.asarray(self.at, dtype=np.float64)
        count = len(at)
        login = np.asarray(self.history_login, dtype=np.int64)
        ts = np.asarray(self.history_ts, dtype=np.float64)
        failed = np.asarray(self.history_failed, dtype=bool)
        logins = np.bincount(login, minlength=count)
        newest = np.full(count, -np.inf)
        np.maximum.at(newest, login, ts)

        # The three key types in one pass (a batch of one login is a few dozen rows: the
        # cost is per numpy call): rows grouped by (type, login, key), the type leading.
        kinds = len(KEY_TYPES)
        keys = np.asarray(self.history_keys, dtype=np.int64).reshape(kinds, -1)
        kind, row = np.nonzero(keys >= 0)
        groups = group_rows(kind * count + login[row], keys[kind, row], ts[row], failed[row])
        kind, owner = np.divmod(groups.login, count)
        distinct = np.bincount(groups.login, minlength=kinds * count).reshape(kinds, count)
        current_keys = np.asarray(self.current_keys, dtype=np.int64).reshape(kinds, count)
        mine = groups.node == current_keys[kind, owner]
        current_use = np.zeros((4, kinds, count), dtype=np.float64)
        where = (kind[mine], owner[mine])
        current_use[0][where] = groups.count[mine]
        current_use[1][where] = groups.failures[mine]
        current_use[2][where] = at[where[1]] - groups.first[mine]
        current_use[3][where] = at[where[1]] - groups.last[mine]
        other = ~mine
        past = owner[other]
        none = np.zeros(len(past))
        past_x = key_features(
            is_current=none,
            absent=none.astype(bool),
            user_logins=groups.count[other],
            user_failures=groups.failures[other],
            seconds_since_first_use=at[past] - groups.first[other],
            seconds_since_last_use=at[past] - groups.last[other],
            other_users=none,
            other_users_known=none,
        )
        absent = current_keys < 0
        current_x = key_features(
            is_current=np.ones(kinds * count),
            absent=absent.ravel(),
            user_logins=current_use[0].ravel(),
            user_failures=current_use[1].ravel(),
            seconds_since_first_use=current_use[2].ravel(),
            seconds_since_last_use=current_use[3].ravel(),
            other_users=np.where(absent, 0, self.other_users).ravel(),
            other_users_known=~absent.ravel(),
        ).reshape(kinds, count, len(KEY_FEATURES)).transpose(1, 0, 2)
        # By login, and within a login by type then key, as the groups came.
        past_order = np.argsort(past, kind="stable")
        nb_login = np.asarray(self.neighbour_login, dtype=np.int64)
        nb_order = np.argsort(nb_login, kind="stable")
        nb_count = len(nb_login)
        neighbour_x = user_features(
            is_target=np.zeros(nb_count),
            logins=self.neighbour_logins,
            failures=self.neighbour_failures,
            seconds_since_last=at[nb_login] - np.asarray(self.neighbour_last_seen, np.float64),
            truncated=np.zeros(nb_count),
            devices=np.zeros(nb_count),
            ips=np.zeros(nb_count),
            asns=np.zeros(nb_count),
        )
        return LoginGraphs(
            event_x=event_features(
                login_successful=self.login_successful,
                failed_attempts_before=self.failed_attempts_before,
            ),
            target_x=user_features(
                is_target=np.ones(count),
                logins=logins,
                failures=np.bincount(login, weights=failed, minlength=count),
                seconds_since_last=at - np.where(logins > 0, newest, at),
                truncated=self.history_truncated,
                devices=distinct[0],
                ips=distinct[1],
                asns=distinct[2],
            ),
            current_x=np.ascontiguousarray(current_x),
            past_login=past[past_order],
            past_type=kind[other][past_order],
            past_x=past_x[past_order],
            neighbour_login=nb_login[nb_order],
            neighbour_link=np.asarray(self.neighbour_link, dtype=np.int64)[nb_order],
            neighbour_x=neighbour_x[nb_order],
        )
