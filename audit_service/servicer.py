"""aegis.v1.AuditService over an AuditStore: protobuf in and out, nothing more."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import grpc

from aegis.v1 import audit_pb2, audit_pb2_grpc, common_pb2
from aegis_domain.convert import seconds_to_timestamp, timestamp_to_seconds
from aegis_domain.types import Action, LoginContext
from aegis_runtime.errors import (
    InvalidArgument,
    NotFound,
    ServiceError,
    error_fields,
    grpc_errors,
)
from aegis_runtime.lanes import Lanes, lane_method
from aegis_runtime.telemetry import method_path
from aegis_runtime.tls import peer_identity
from audit_service import instruments
from audit_service.context_bytes import ContextEncoder
from audit_service.log.proofs import proof_to_message
from audit_service.repeats import recorded_decisions
from audit_service.reviews import ReviewDesk, Verdict
from audit_service.served_contexts import ServedContexts
from audit_service.storage import (
    AuditStore,
    ContextQuery,
    DecisionFilter,
    DecisionSummary,
    RecordResult,
    ReviewEntry,
    ReviewSummary,
)
from audit_service.validation import (
    validate_context_request,
    validate_decision_request,
    validate_list_request,
    validate_list_reviews_request,
    validate_record_id,
    validate_record_request,
)

log = logging.getLogger(__name__)

# Batches on a lane are traced and logged as the batch calls they stand for.
_SERVICE = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name
RECORD_BATCH = method_path(_SERVICE, "RecordBatch")
GET_CONTEXT_BATCH = method_path(_SERVICE, "GetContextBatch")


def summary_to_proto(d: DecisionSummary) -> audit_pb2.DecisionSummary:
    return audit_pb2.DecisionSummary(
        decision_id=d.decision_id,
        event_id=d.event_id,
        user_id=d.user_id,
        action=d.action,
        risk=d.risk,
        event_time=seconds_to_timestamp(d.event_time),
        country=d.country,
        audit_ref=d.audit_ref,
    )


def review_to_proto(r: ReviewSummary) -> common_pb2.Review:
    return common_pb2.Review(
        review_id=r.review_id,
        decision_id=r.decision_id,
        outcome=r.outcome,
        action=r.action,
        reviewer=r.reviewer,
        reason=r.reason,
        reviewed_at=seconds_to_timestamp(r.reviewed_at),
        original_action=r.original_action,
    )


def review_item_to_proto(entry: ReviewEntry) -> audit_pb2.ReviewItem:
    item = audit_pb2.ReviewItem(
        decision=summary_to_proto(entry.decision), state=audit_pb2.REVIEW_STATE_PENDING
    )
    if entry.review is not None:
        item.state = audit_pb2.REVIEW_STATE_DECIDED
        item.review.CopyFrom(review_to_proto(entry.review))
        item.review_audit_ref = entry.review.audit_ref
    return item


def record_response(result: RecordResult) -> audit_pb2.RecordResponse:
    return audit_pb2.RecordResponse(
        audit_ref=result.audit_ref, duplicate=result.duplicate, decided=result.decided
    )


def context_query(request: audit_pb2.GetContextRequest) -> ContextQuery:
    validate_context_request(request)
    return ContextQuery(request.user_id, request.device_id, request.ip, request.asn,
                        timestamp_to_seconds(request.as_of))


def caller_deadline(context: grpc.aio.ServicerContext) -> float | None:
    """The caller's deadline as time.monotonic() seconds; None when it set none."""
    remaining = context.time_remaining()
    return time.monotonic() + remaining if remaining is not None else None


@contextmanager
def batch_item(index: int) -> Iterator[None]:
    """Names the item of a batch request that a field error is about: items[3].user_id."""
    try:
        yield
    except InvalidArgument as exc:
        raise InvalidArgument(f"items[{index}].{exc.field}", exc.reason) from exc


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """Converts requests for the store and its answers back; errors map to gRPC statuses."""

    def __init__(self, store: AuditStore, served_context_bytes: int = 0) -> None:
        self.store = store
        self.desk = ReviewDesk(store)
        self.lanes = Lanes()
        self.served = ServedContexts(served_context_bytes)
        self.encoder = ContextEncoder()

    async def _record(
        self, request: audit_pb2.RecordRequest, deadline: float | None
    ) -> RecordResult:
        """A valid record, with the context it names by context_ref where it does."""
        validate_record_request(request)
        context = self.served.take(request.context_ref) if request.context_ref else None
        return await self.store.record(request.record, deadline, context)

    @grpc_errors
    async def Record(
        self, request: audit_pb2.RecordRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.RecordResponse:
        return record_response(await self._record(request, caller_deadline(context)))

    @grpc_errors
    async def RecordBatch(
        self, request: audit_pb2.RecordBatchRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.RecordBatchResponse:
        return await self._record_batch(request, caller_deadline(context))

    async def _record_batch(
        self, request: audit_pb2.RecordBatchRequest, deadline: float | None
    ) -> audit_pb2.RecordBatchResponse:
        """Each record on its own: a refused one does not hold back the others, which the
        store commits together (group commit)."""

        async def record_one(item: audit_pb2.RecordRequest) -> audit_pb2.RecordResult:
            try:
                result = await self._record(item, deadline)
            except ServiceError as exc:
                return audit_pb2.RecordResult(error=common_pb2.ItemError(**error_fields(exc)))
            except Exception as exc:
                # A bug that one record trips must cost that record only, never the batch.
                log.exception("record failed")
                return audit_pb2.RecordResult(error=common_pb2.ItemError(
                    code=grpc.StatusCode.INTERNAL.value[0], message=f"{type(exc).__name__}"
                ))
            return audit_pb2.RecordResult(recorded=record_response(result))

        results = await asyncio.gather(*(record_one(item) for item in request.items))
        return audit_pb2.RecordBatchResponse(results=results)

    # RecordBatch calls on one stream (the router's lane).
    RecordStream = lane_method(RECORD_BATCH, _record_batch, audit_pb2.RecordStreamResponse)

    @grpc_errors
    async def GetContext(
        self, request: audit_pb2.GetContextRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetContextResponse:
        reply = audit_pb2.GetContextResponse()
        await self._contexts([context_query(request)], [request], [reply])
        return reply

    @grpc_errors
    async def GetContextBatch(
        self, request: audit_pb2.GetContextBatchRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetContextBatchResponse:
        return await self._context_batch(request, None)

    async def _context_batch(
        self, request: audit_pb2.GetContextBatchRequest, deadline: float | None
    ) -> audit_pb2.GetContextBatchResponse:
        """A bad item gets its own error (naming items[i].field); the others are served.
        Each reply is built in its place in the response: a context is tens of KiB, and
        copying replies into a response cost more than parsing them."""
        response = audit_pb2.GetContextBatchResponse()
        queries, served, replies = [], [], []
        for index, item in enumerate(request.items):
            reply = response.items.add()
            try:
                with batch_item(index):
                    queries.append(context_query(item))
            except InvalidArgument as exc:
                reply.error.CopyFrom(common_pb2.ItemError(**error_fields(exc)))
            else:
                served.append(item)
                replies.append(reply)
        if queries:
            await self._contexts(queries, served, replies)
        return response

    # GetContextBatch calls on one stream (the router's lane).
    GetContextStream = lane_method(
        GET_CONTEXT_BATCH, _context_batch, audit_pb2.GetContextStreamResponse
    )

    async def _contexts(
        self, queries: list[ContextQuery], requests: Sequence[audit_pb2.GetContextRequest],
        replies: Sequence[audit_pb2.GetContextResponse],
    ) -> None:
        """Fills each reply with its login's context and, where its event was decided before,
        that decision: the router then answers with it and asks no agent."""
        started = time.perf_counter()
        contexts, claims = await self.store.contexts_and_claims(
            queries, [r.event_id for r in requests if r.event_id]
        )
        decided = await recorded_decisions(
            self.store, claims, [(r.event_id, r.event_digest) for r in requests]
        )
        for context, decision, reply in zip(contexts, decided, replies, strict=True):
            self._context_reply(context, decision, reply)
        instruments.contexts_served(
            len(contexts), sum(len(c.history) + len(c.neighbors) for c in contexts),
            time.perf_counter() - started,
        )

    def _context_reply(
        self, context: LoginContext, decided: common_pb2.Decision | None,
        reply: audit_pb2.GetContextResponse,
    ) -> None:
        """The reply (an empty message, filled here), and for a login to be decided a
        reference to its context: the record then names the context instead of carrying it
        back."""
        # Serialized as the log stores a context (deterministic), once, here: the reply is
        # parsed from these bytes (in C) and the record's canonical bytes take them as they are.
        encoded = self.encoder.encode(context)
        reply.context.SetInParent()
        reply.context.MergeFromString(encoded)
        if decided is not None:
            reply.decided.CopyFrom(decided)
        elif self.served.enabled:
            reply.context_ref = self.served.keep(encoded)

    @grpc_errors
    async def GetDecision(
        self, request: audit_pb2.GetDecisionRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetDecisionResponse:
        validate_decision_request(request)
        found = await self.store.get_decision(request.decision_id)
        if found is None:
            raise NotFound(f"decision {request.decision_id!r} is not in the audit log")
        record, ref = found
        return audit_pb2.GetDecisionResponse(record=record, audit_ref=ref)

    @grpc_errors
    async def ListDecisions(
        self, request: audit_pb2.ListDecisionsRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.ListDecisionsResponse:
        validate_list_request(request)
        filters = DecisionFilter(
            user_id=request.user_id,
            action=Action(request.action) if request.action else None,
            country=request.country,
            since=timestamp_to_seconds(request.since) if request.HasField("since") else None,
            until=timestamp_to_seconds(request.until) if request.HasField("until") else None,
        )
        page = await self.store.list_decisions(filters, request.page_size, request.page_token)
        return audit_pb2.ListDecisionsResponse(
            decisions=[summary_to_proto(d) for d in page.decisions],
            next_page_token=page.next_page_token,
        )

    @grpc_errors
    async def Verify(
        self, request: audit_pb2.VerifyRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.VerifyResponse:
        report = await self.store.verify()
        instruments.verified([p.kind for p in report.problems])
        return audit_pb2.VerifyResponse(
            ok=report.ok,
            records_checked=report.records_checked,
            segments_checked=report.segments_checked,
            problems=[
                audit_pb2.VerifyProblem(kind=p.kind, location=p.location, detail=p.detail)
                for p in report.problems
            ],
        )

    @grpc_errors
    async def ProveInclusion(
        self, request: audit_pb2.ProveInclusionRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.ProveInclusionResponse:
        validate_record_id("decision_id", request.decision_id)
        proof = await self.store.prove(request.decision_id)
        if proof is None:
            raise NotFound(f"decision {request.decision_id!r} is not in the audit log")
        return audit_pb2.ProveInclusionResponse(proof=proof_to_message(proof))

    @grpc_errors
    async def GetSigningKey(
        self, request: audit_pb2.GetSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetSigningKeyResponse:
        signer = self.store.signer
        return audit_pb2.GetSigningKeyResponse(
            public_key_pem=signer.public_key_pem, key_id=signer.key_id
        )

    @grpc_errors
    async def ListReviews(
        self, request: audit_pb2.ListReviewsRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.ListReviewsResponse:
        validate_list_reviews_request(request)
        page = await self.store.list_reviews(
            request.state == audit_pb2.REVIEW_STATE_DECIDED, request.page_size,
            request.page_token,
        )
        return audit_pb2.ListReviewsResponse(
            reviews=[review_item_to_proto(entry) for entry in page.entries],
            next_page_token=page.next_page_token,
        )

    @grpc_errors
    async def GetReview(
        self, request: audit_pb2.GetReviewRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetReviewResponse:
        validate_record_id("decision_id", request.decision_id)
        entry = await self.store.review_entry(request.decision_id)
        found = await self.store.get_decision(request.decision_id)
        if entry is None or found is None:
            raise NotFound(f"decision {request.decision_id!r} is not in the audit log")
        return audit_pb2.GetReviewResponse(item=review_item_to_proto(entry), record=found[0])

    @grpc_errors
    async def DecideReview(
        self, request: audit_pb2.DecideReviewRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.DecideReviewResponse:
        decided = await self.desk.decide(
            Verdict(
                decision_id=request.decision_id,
                outcome=request.outcome,
                action=request.action,
                # Over mutual TLS the reviewer is who the certificate says, never what the
                # request claims; the free-text field serves only the plaintext local default.
                reviewer=peer_identity(context) or request.reviewer,
                reason=request.reason,
                review_id=request.review_id,
            )
        )
        instruments.reviewed(decided.review, decided.duplicate)
        return audit_pb2.DecideReviewResponse(
            review=decided.review, audit_ref=decided.audit_ref, duplicate=decided.duplicate
        )
