"""Reading the google.rpc.Status details that a failed call carries."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def bad_request_fields(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields that the error's google.rpc.BadRequest names (none without one)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return []
    fields = []
    for detail in status.details:
        request = error_details_pb2.BadRequest()
        if detail.Unpack(request):
            fields += [violation.field for violation in request.field_violations]
    return fields
