"""The contexts GetContext served, held a while under a reference: a record names its context
instead of carrying it back, and the log gets the very bytes that were served."""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict

from aegis_runtime.errors import FailedPrecondition


class ContextForgotten(FailedPrecondition):
    """A record's context_ref this service does not hold (any more): the caller sends the
    record again with its context."""

    def __init__(self) -> None:
        super().__init__(
            "context_ref: this audit service no longer holds that context; send the record "
            "with its context"
        )


class ServedContexts:
    """Serialized contexts by reference, the newest of them up to `max_bytes` in all (the
    oldest forgotten first); a reference is good for one record. 0 holds none and gives no
    references.

    A reference is a random prefix of this process and a counter, so a restarted service or
    another task of it never takes one it did not give out for another context."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._prefix = os.urandom(8)
        self._numbers = itertools.count(1)
        self._held: OrderedDict[bytes, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._held)

    @property
    def enabled(self) -> bool:
        """False when nothing is held (max_bytes 0): callers need not serialize a context."""
        return self._max_bytes > 0

    def keep(self, context: bytes) -> bytes:
        """Holds `context` (a serialized LoginContext); its reference, b"" when it is not
        held (larger than max_bytes)."""
        if not self._max_bytes or len(context) > self._max_bytes:
            return b""
        ref = self._prefix + next(self._numbers).to_bytes(8, "big")
        self._held[ref] = context
        self._bytes += len(context)
        while self._bytes > self._max_bytes:
            self._bytes -= len(self._held.popitem(last=False)[1])
        return ref

    def take(self, ref: bytes) -> bytes:
        """The context held under `ref`, forgotten here; raises ContextForgotten."""
        context = self._held.pop(ref, None)
        if context is None:
            raise ContextForgotten()
        self._bytes -= len(context)
        return context
