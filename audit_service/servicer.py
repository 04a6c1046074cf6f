"""aegis.v1.AuditService over an AuditStore: protobuf in and out, nothing more."""

from __future__ import annotations

import grpc

from aegis.v1 import audit_pb2, audit_pb2_grpc
from aegis_domain.convert import context_to_proto, seconds_to_timestamp, timestamp_to_seconds
from aegis_domain.types import Action
from aegis_runtime.errors import NotFound, grpc_errors
from audit_service.storage import AuditStore, DecisionFilter
from audit_service.validation import (
    validate_context_request,
    validate_decision_request,
    validate_list_request,
    validate_record_request,
)


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """Converts requests for the store and its answers back; errors map to gRPC statuses."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    @grpc_errors
    async def Record(
        self, request: audit_pb2.RecordRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.RecordResponse:
        validate_record_request(request)
        result = await self.store.record(request.record)
        return audit_pb2.RecordResponse(audit_ref=result.audit_ref, duplicate=result.duplicate)

    @grpc_errors
    async def GetContext(
        self, request: audit_pb2.GetContextRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetContextResponse:
        validate_context_request(request)
        login_context = await self.store.get_context(
            request.user_id,
            request.device_id,
            request.ip,
            request.asn,
            timestamp_to_seconds(request.as_of),
        )
        return audit_pb2.GetContextResponse(context=context_to_proto(login_context))

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
            decisions=[
                audit_pb2.DecisionSummary(
                    decision_id=d.decision_id,
                    event_id=d.event_id,
                    user_id=d.user_id,
                    action=d.action,
                    risk=d.risk,
                    event_time=seconds_to_timestamp(d.event_time),
                    country=d.country,
                    audit_ref=d.audit_ref,
                )
                for d in page.decisions
            ],
            next_page_token=page.next_page_token,
        )

    @grpc_errors
    async def Verify(
        self, request: audit_pb2.VerifyRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.VerifyResponse:
        report = await self.store.verify()
        return audit_pb2.VerifyResponse(
            ok=report.ok,
            records_checked=report.records_checked,
            segments_checked=report.segments_checked,
            problems=[
                audit_pb2.VerifyProblem(kind=p.kind, location=p.location, detail=p.detail)
                for p in report.problems
            ],
        )
