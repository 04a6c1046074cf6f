"""RouterService servicer: protobuf in and out; the work is done by the Scorer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc

from aegis.v1 import router_pb2, router_pb2_grpc
from aegis_runtime.errors import ServiceError, error_fields, grpc_errors
from router_service.deadline import Deadline
from router_service.scoring import Scorer
from router_service.stream_order import ready_in_user_order
from router_service.stream_packing import Packing

log = logging.getLogger(__name__)


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
        """Scores with bounded concurrency (stream_order); logins of one user in stream order,
        so each sees the ones before it in its history (as a live system would have). After
        replay_stream_max_s it asks the client to close the stream (a `closing` reply).
        Packed requests get packed replies (stream_packing)."""
        settings = self.scorer.settings
        window = self.scorer.replay_window()

        async def score_one(item: router_pb2.ScoreStreamRequest) -> router_pb2.ScoreStreamResponse:
            reply = router_pb2.ScoreStreamResponse(client_ref=item.client_ref)
            try:
                scored = await self.scorer.score(
                    item.event, Deadline.after(settings.replay_event_deadline_ms / 1000), window,
                    bulk=True,
                )
                reply.decision.CopyFrom(scored.decision)
                reply.repeat = scored.repeat
            except ServiceError as exc:
                reply.error.CopyFrom(router_pb2.ScoreError(**error_fields(exc)))
            except Exception as exc:
                # in_user_order's handler must not raise (the stream would stall on it): a
                # bug one item trips is that item's error, and the stream goes on.
                log.exception("score failed", extra={"client_ref": item.client_ref})
                reply.error.CopyFrom(router_pb2.ScoreError(
                    code=grpc.StatusCode.INTERNAL.value[0], message=type(exc).__name__
                ))
            return reply

        # When its time is up the stream asks the client to half-close: a stream that ends
        # while the client still writes fails on the client's side, and one that outlives
        # its connection's max-age grace is cut mid-row.
        closing = (settings.replay_stream_max_s, router_pb2.ScoreStreamResponse(closing=True))
        packing = Packing()
        async for ready in ready_in_user_order(
            packing.requests(request_iterator), lambda item: item.event.user_id, score_one,
            settings.replay_concurrency, closing,
        ):
            for message in packing.replies(ready):
                yield message
