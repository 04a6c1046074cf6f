"""Domain errors that carry their gRPC status; `grpc_errors` is the one place mapping them."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status as grpc_status

T = TypeVar("T")


class ServiceError(Exception):
    """An error a caller should see with a specific gRPC status."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    """A request field is wrong; `field` is its dotted path, e.g. `event.ip`."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        # What is wrong with the field, without its name.
        self.reason = message


class AlreadyExists(ServiceError):
    """The request names something that exists with other content; `field` names it."""

    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def error_fields(exc: ServiceError) -> dict[str, Any]:
    """The fields of the per-item error messages (ScoreError, ItemError): the google.rpc.Code
    number, the message and, for INVALID_ARGUMENT and ALREADY_EXISTS, the offending field."""
    return {
        "code": exc.code.value[0],
        "message": exc.message,
        "field": exc.field if isinstance(exc, InvalidArgument | AlreadyExists) else "",
    }


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


def rpc_status(exc: ServiceError) -> grpc.Status:
    """The call's status for `exc`; a field error carries a google.rpc.BadRequest naming the
    field (in grpc-status-details-bin), so that clients need not parse the message."""
    status = status_pb2.Status(code=exc.code.value[0], message=exc.message)
    if isinstance(exc, InvalidArgument):
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=exc.reason)
        ]))
        status.details.append(detail)
    return grpc_status.to_status(status)


async def abort(context: grpc.aio.ServicerContext, exc: ServiceError) -> NoReturn:
    """End the call with `exc`'s status (and its details)."""
    await context.abort_with_status(rpc_status(exc))
    raise AssertionError("abort_with_status returned")  # it raises AbortError


def grpc_errors(
    method: Callable[..., Awaitable[T]],
) -> Callable[..., Awaitable[T]]:
    """Decorate an aio servicer method so that a ServiceError aborts with its status."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await method(self, request, context)
        except ServiceError as exc:
            await abort(context, exc)

    return wrapper
