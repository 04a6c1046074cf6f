"""Whether the AWS store can write, as its health reports it: down after a failed commit, up
again after a commit or a probe succeeds."""

from __future__ import annotations

import asyncio


class WriteHealth:
    """Level-triggered state shared by the writer thread (which notes outcomes) and the event
    loop (where health and the prober wait for a change).

    S3 and DynamoDB are remote and the store settles a PUT of unknown outcome before its next
    batch, so a failure leaves nothing torn behind: unlike the embedded store (fail-stop, its
    local files may be torn until a restart repairs them), this store recovers by itself.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._down = asyncio.Event()
        self._up = asyncio.Event()
        self._up.set()
        self.why = ""

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop whose tasks wait on this state (the serving one)."""
        self._loop = loop

    def note_failure(self, why: str) -> None:
        """From any thread: writes are failing."""
        self._post(False, why)

    def note_success(self) -> None:
        """From any thread: a write or a probe went through."""
        self._post(True, "")

    def _post(self, up: bool, why: str) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._set, up, why)

    def _set(self, up: bool, why: str) -> None:
        self.why = why
        (self._up if up else self._down).set()
        (self._down if up else self._up).clear()

    @property
    def up(self) -> bool:
        return self._up.is_set()

    async def wait_down(self) -> str:
        """Returns why, once writes are failing."""
        await self._down.wait()
        return self.why

    async def wait_up(self) -> None:
        await self._up.wait()
