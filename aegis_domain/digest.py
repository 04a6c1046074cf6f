"""A login's content digest: what makes two events with one event id the same login."""

from __future__ import annotations

import hashlib

from aegis.v1 import common_pb2 as pb


def event_digest(event: pb.LoginEvent) -> str:
    """Hex sha256 of the event's deterministic protobuf encoding: every field set, in field
    order, so equal content gives an equal digest on every host (and read back from the log's
    JSON, which round-trips each field exactly). Microseconds: it runs on every Score."""
    return hashlib.sha256(event.SerializeToString(deterministic=True)).hexdigest()
