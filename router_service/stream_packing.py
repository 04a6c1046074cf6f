"""ScoreStream's packed messages: many requests in one message, and their replies likewise."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from aegis.v1 import router_pb2


class Packing:
    """One stream's packing: a client that packs its requests (ScoreStreamRequest.items) gets
    its replies packed too; one that does not (an older client) gets one reply a message."""

    def __init__(self) -> None:
        self.packed = False

    async def requests(
        self, messages: AsyncIterable[router_pb2.ScoreStreamRequest]
    ) -> AsyncIterator[router_pb2.ScoreStreamRequest]:
        """Each request of the stream, unpacked from the messages that carry several."""
        async for message in messages:
            if message.items:
                self.packed = True
                for item in message.items:
                    yield item
            else:
                yield message

    def replies(
        self, ready: Iterable[router_pb2.ScoreStreamResponse]
    ) -> Iterator[router_pb2.ScoreStreamResponse]:
        """The messages that carry the replies `ready` at one moment."""
        if not self.packed:
            yield from ready
            return
        answers = [reply for reply in ready if not reply.closing]
        if answers:
            yield router_pb2.ScoreStreamResponse(items=answers)
        # The request to half-close stays a message of its own, as a client reads it.
        yield from (reply for reply in ready if reply.closing)
