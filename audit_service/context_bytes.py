"""A served context's bytes, with each neighbour's encoding reused while it does not change.

GetContext serves the graph neighbourhood of a busy IP or ASN (up to 20 neighbours a link)
to every login through it, and between two commits on that link only the users of the new
rows move; converting every neighbour to a message for every context was about a third of
the reply's cost. The bytes are exactly context_to_proto(context).SerializeToString(
deterministic=True) (what the log keeps as the served context): a message's fields are
serialized in field-number order, so the neighbours (field 2) go before everything else
context_to_proto writes (fields 3 and up; it never writes field 1, the legacy history).
"""

from __future__ import annotations

import dataclasses

from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import context_to_proto
from aegis_domain.login_history import LoginHistory
from aegis_domain.types import LoginContext, Neighbor

# About 150 bytes each: a bound far above the neighbours the busy links of a working set
# serve (20 a link), reached only by a long churn of users; then it starts over.
MAX_NEIGHBORS = 100_000


class ContextEncoder:
    """Serializes contexts as the log keeps them; neighbours' encodings are memoised."""

    def __init__(self, max_neighbors: int = MAX_NEIGHBORS) -> None:
        self._max_neighbors = max_neighbors
        self._neighbors: dict[tuple[object, ...], bytes] = {}

    def encode(self, context: LoginContext) -> bytes:
        """context_to_proto(context).SerializeToString(deterministic=True)."""
        if len(self._neighbors) >= self._max_neighbors:
            self._neighbors.clear()
        keys = [_memo_key(n) for n in context.neighbors]
        missing = [n for n, key in zip(context.neighbors, keys, strict=True)
                   if key not in self._neighbors]
        if missing:
            # One conversion for all of them (with a history that costs nothing to convert).
            messages = context_to_proto(LoginContext(history=_NO_HISTORY, neighbors=missing))
            for neighbor, message in zip(missing, messages.neighbors, strict=True):
                # As field 2 of a LoginContext: tag, length, message.
                self._neighbors[_memo_key(neighbor)] = pb.LoginContext(
                    neighbors=[message]).SerializeToString(deterministic=True)
        rest = context_to_proto(dataclasses.replace(context, neighbors=()))
        neighbors = [self._neighbors[key] for key in keys]
        return b"".join(neighbors) + rest.SerializeToString(deterministic=True)


_NO_HISTORY = LoginHistory.from_rows([])


def _memo_key(neighbor: Neighbor) -> tuple[object, ...]:
    # float.hex: 0.0 and -0.0 are equal keys but different bytes.
    return (neighbor.link, neighbor.user_id, neighbor.logins, neighbor.failures,
            neighbor.flagged, neighbor.max_risk.hex(), neighbor.last_seen)
