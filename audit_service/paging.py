"""Page tokens of keyset pagination, the same on every backend: (time, id) of the last row."""

from __future__ import annotations

import base64
import json

from aegis_runtime.errors import InvalidArgument


def encode_token(ts: float, record_id: str) -> str:
    raw = json.dumps([ts, record_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: str) -> tuple[float, str]:
    """The (time, id) a token carries; InvalidArgument (field page_token) for any other."""
    try:
        ts, record_id = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        if isinstance(ts, bool) or not isinstance(ts, int | float):
            raise TypeError(ts)
        if not isinstance(record_id, str):
            raise TypeError(record_id)
    except (ValueError, TypeError, UnicodeError):
        raise InvalidArgument("page_token", "is not a token this service issued") from None
    return float(ts), record_id
