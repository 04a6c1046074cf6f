"""Serving-time neighbourhoods: the graph of a login built from its GetContext answer alone."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from aegis_domain.login_history import LoginHistory
from aegis_domain.types import LinkKind, LoginContext, LoginEvent
from agent_services.network.assemble import Neighbourhoods
from agent_services.network.graphs import LoginGraphs
from agent_services.network.schema import KEY_TYPES

# Position of each link kind in KEY_TYPES.
LINK_INDEX = {LinkKind.DEVICE: 0, LinkKind.IP: 1, LinkKind.ASN: 2}
Key = str | int


def login_keys(event: LoginEvent) -> tuple[Key, Key, Key]:
    """The login's device, IP and ASN in KEY_TYPES order; a falsy one is absent."""
    return event.device_id, event.ip, event.asn


def other_users(context: LoginContext) -> tuple[int, int, int]:
    """Distinct other users of the login's device, IP and ASN, in KEY_TYPES order."""
    return context.device_users, context.ip_users, context.asn_users


def graphs_from_contexts(requests: Sequence[tuple[LoginEvent, LoginContext]]) -> LoginGraphs:
    """The graphs of a batch of logins, each from its event and context only (a pure function:
    the same request always gives the same graph)."""
    return neighbourhoods_from_contexts(requests).graphs()


def neighbourhoods_from_contexts(
    requests: Sequence[tuple[LoginEvent, LoginContext]],
) -> Neighbourhoods:
    """The raw facts of a batch of logins, gathered from their events and contexts."""
    events = [event for event, _ in requests]
    histories = [LoginHistory.of(context.history) for _, context in requests]
    neighbours = [(n, nb) for n, (_, context) in enumerate(requests) for nb in context.neighbors]
    # One table of codes per key type, shared by the current and the history keys.
    codes: list[dict[Key, int]] = [{} for _ in KEY_TYPES]
    current_keys = _coded(codes, [[e.device_id for e in events], [e.ip for e in events],
                                  [e.asn for e in events]])
    return Neighbourhoods(
        at=np.array([e.timestamp for e in events], dtype=np.float64),
        login_successful=np.array([e.login_successful for e in events], dtype=bool),
        failed_attempts_before=np.array([e.failed_attempts_before for e in events]),
        history_truncated=np.array([c.history_truncated for _, c in requests], dtype=bool),
        current_keys=current_keys,
        other_users=np.array([other_users(c) for _, c in requests], dtype=np.int64).reshape(
            -1, len(KEY_TYPES)).T,
        history_login=np.repeat(np.arange(len(requests), dtype=np.int64),
                                [len(h) for h in histories]),
        history_ts=np.array(_joined(histories, "timestamp"), dtype=np.float64),
        history_failed=~np.array(_joined(histories, "login_successful"), dtype=bool),
        history_keys=_coded(codes, [_joined(histories, column)
                                    for column in ("device_id", "ip", "asn")]),
        neighbour_login=np.array([n for n, _ in neighbours], dtype=np.int64),
        neighbour_link=np.array([LINK_INDEX[nb.link] for _, nb in neighbours], dtype=np.int64),
        neighbour_logins=np.array([nb.logins for _, nb in neighbours], dtype=np.int64),
        neighbour_failures=np.array([nb.failures for _, nb in neighbours], dtype=np.int64),
        neighbour_last_seen=np.array([nb.last_seen for _, nb in neighbours], dtype=np.float64),
    )


def _joined(histories: list[LoginHistory], column: str) -> list[Key]:
    """One column of every history of the batch, end to end."""
    return list(itertools.chain.from_iterable(getattr(h, column) for h in histories))


def _coded(codes: list[dict[Key, int]], columns: list[list[Key]]) -> np.ndarray:
    """[3, n] codes of n logins' device, IP and ASN columns; -1 where there is none. A key's
    code is its rank of first appearance (in earlier calls too), given once per distinct key."""
    rows = []
    for table, column in zip(codes, columns, strict=True):
        for key in dict.fromkeys(column):
            if key and key not in table:
                table[key] = len(table)
        rows.append(list(map(table.get, column, itertools.repeat(-1))))
    return np.array(rows, dtype=np.int64).reshape(len(KEY_TYPES), -1)
