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
        rest = context_to_proto(dataclasses.replace(context, neighbors=()))
        neighbors = [self._neighbor(n) for n in context.neighbors]
        return b"".join(neighbors) + rest.SerializeToString(deterministic=True)

    def _neighbor(self, neighbor: Neighbor) -> bytes:
        """The neighbour as field 2 of a LoginContext (tag, length, message)."""
        # float.hex: 0.0 and -0.0 are equal keys but different bytes.
        key = (neighbor.link, neighbor.user_id, neighbor.logins, neighbor.failures,
               neighbor.flagged, neighbor.max_risk.hex(), neighbor.last_seen)
        encoded = self._neighbors.get(key)
        if encoded is None:
            if len(self._neighbors) >= self._max_neighbors:
                self._neighbors.clear()
            message = context_to_proto(LoginContext(neighbors=[neighbor])).neighbors[0]
            encoded = pb.LoginContext(neighbors=[message]).SerializeToString(deterministic=True)
            self._neighbors[key] = encoded
        return encoded
