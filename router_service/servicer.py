"""RouterService servicer: protobuf in and out; the work is done by the Scorer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import grpc

from aegis.v1 import router_pb2, router_pb2_grpc
from aegis_runtime.errors import ServiceError, error_fields, grpc_errors
from router_service.deadline import Deadline
from router_service.scoring import Scorer


class RouterServicer(router_pb2_grpc.RouterServiceServicer):
    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer

    @grpc_errors
    async def Score(
        self, request: router_pb2.ScoreRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ScoreResponse:
        remaining = context.time_remaining()
        budget = (
            remaining if remaining is not None else self.scorer.settings.default_deadline_ms / 1000
        )
        scored = await self.scorer.score(
            request.event, Deadline.after(budget), self.scorer.live_window()
        )
        return router_pb2.ScoreResponse(
            decision=scored.decision, timing=scored.timing, repeat=scored.repeat
        )

    async def ScoreStream(
        self,
        request_iterator: AsyncIterator[router_pb2.ScoreStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[router_pb2.ScoreStreamResponse]:
        """Scores with bounded concurrency; logins of one user in stream order, so each sees
        the ones before it in its history (as a live system would have). After
        replay_stream_max_s it asks the client to close the stream (a `closing` reply)."""
        settings = self.scorer.settings
        slots = asyncio.Semaphore(settings.replay_concurrency)
        replies: asyncio.Queue[router_pb2.ScoreStreamResponse | None] = asyncio.Queue()
        last_of_user: dict[str, asyncio.Task[None]] = {}
        window = self.scorer.replay_window()

        async def score_one(
            item: router_pb2.ScoreStreamRequest, before: asyncio.Task[None] | None
        ) -> None:
            try:
                if before is not None:
                    # Wait for the user's previous login without inheriting its failure.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(before)
                reply = router_pb2.ScoreStreamResponse(client_ref=item.client_ref)
                try:
                    scored = await self.scorer.score(
                        item.event,
                        Deadline.after(settings.replay_event_deadline_ms / 1000),
                        window,
                    )
                    reply.decision.CopyFrom(scored.decision)
                    reply.repeat = scored.repeat
                except ServiceError as exc:
                    reply.error.CopyFrom(router_pb2.ScoreError(**error_fields(exc)))
                await replies.put(reply)
            finally:
                slots.release()

        def forget_user(user: str) -> Callable[[asyncio.Task[None]], None]:
            def done(task: asyncio.Task[None]) -> None:
                if last_of_user.get(user) is task:
                    del last_of_user[user]

            return done

        async def read_requests() -> None:
            pending: set[asyncio.Task[None]] = set()
            async for item in request_iterator:
                await slots.acquire()
                user = item.event.user_id
                task = asyncio.create_task(score_one(item, last_of_user.get(user)))
                last_of_user[user] = task
                pending.add(task)
                task.add_done_callback(pending.discard)
                task.add_done_callback(forget_user(user))
            if pending:
                await asyncio.gather(*pending)
            await replies.put(None)

        reader = asyncio.create_task(read_requests())
        # When its time is up the stream asks the client to half-close: a stream that ends
        # while the client still writes fails on the client's side, and one that outlives
        # its connection's max-age grace is cut mid-row.
        time_up = asyncio.get_running_loop().call_later(
            settings.replay_stream_max_s, replies.put_nowait,
            router_pb2.ScoreStreamResponse(closing=True),
        )
        try:
            while (reply := await replies.get()) is not None:
                yield reply
            await reader
        finally:
            time_up.cancel()
            reader.cancel()

