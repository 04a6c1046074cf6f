"""A login's content digest: what makes two events with one event id the same login."""

from __future__ import annotations

import hashlib

from aegis.v1 import common_pb2 as pb


def event_digest(event: pb.LoginEvent) -> str:
    """Hex sha256 of the event's deterministic protobuf encoding: every field set, in field
    order, so equal content gives an equal digest on every host (and read back from the log's
    JSON, which round-trips each field exactly). Microseconds: it runs on every Score."""
    return hashlib.sha256(event.SerializeToString(deterministic=True)).hexdigest()


# Hex digits of the digest in a content-derived event id: 128 bits, no collision in practice.
_ID_DIGITS = 32


def content_event_id(event: pb.LoginEvent, prefix: str) -> str:
    """An event id for a login whose source gives none (a file without an id column, a
    generated world): derived from its content, so that the same login has the same id
    everywhere and two logins never share one. `event` must not have an id yet."""
    return prefix + event_digest(event)[:_ID_DIGITS]
