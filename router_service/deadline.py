"""A monotonic deadline split between the hops of one Score."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Deadline:
    expires_at: float  # time.monotonic() seconds

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.expires_at - time.monotonic()

    def budget(self, cap_s: float, reserve_s: float = 0.0) -> float:
        """Seconds a hop may take: at most `cap_s`, leaving `reserve_s` for later hops."""
        return min(cap_s, self.remaining() - reserve_s)
