"""boto3 clients of the AWS backend, and the one retry policy of every call they make."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from audit_service.settings import AuditSettings

T = TypeVar("T")

# Throttling and server-side trouble: worth another try. Anything else (a condition that
# failed, a missing bucket, access denied) is an answer.
RETRYABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "SlowDown",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "RequestTimeout",
})


CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 10
# A request sent lands (or fails) within this: one attempt's timeouts.
LONGEST_ATTEMPT_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S


class PartialBatch(Exception):
    """A batch call left items unprocessed (throttling): retried like a throttling error."""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ("" for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def retryable(exc: BaseException) -> bool:
    """Throttling, a 5xx, a broken connection or a partly processed batch."""
    if isinstance(exc, PartialBatch):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in RETRYABLE_CODES or int(status) >= 500
    return isinstance(exc, ConnectionError | HTTPClientError)


class Retrier:
    """Runs calls with jittered exponential backoff on retryable errors, never past the
    caller's deadline (time.monotonic() seconds) or, without one, `default_s` from now."""

    def __init__(self, default_s: float) -> None:
        self.default_s = default_s

    def deadline(self, deadline: float | None = None) -> float:
        return deadline if deadline is not None else time.monotonic() + self.default_s

    def call(self, fn: Callable[..., T], *args: Any, deadline: float | None = None,
             **kwargs: Any) -> T:
        until = self.deadline(deadline)

        def out_of_time(state: RetryCallState) -> bool:
            return time.monotonic() + (state.upcoming_sleep or 0.0) >= until

        for attempt in Retrying(
            retry=retry_if_exception(retryable),
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            stop=out_of_time,
            reraise=True,
        ):
            with attempt:
                return fn(*args, **kwargs)
        raise AssertionError("unreachable: Retrying either returns or raises")


def make_clients(settings: AuditSettings, session: Any = None) -> tuple[Any, Any]:
    """(s3, dynamodb) clients from the standard credential chain (or `session`'s); botocore's
    own retries are off so that the Retrier, bounded by deadlines, is the only one."""
    session = session or boto3.session.Session(region_name=settings.aws_region or None)
    config = Config(
        retries={"total_max_attempts": 1},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        max_pool_connections=32,
    )
    endpoint = settings.aws_endpoint_url or None
    return (
        session.client("s3", endpoint_url=endpoint, config=config),
        session.client("dynamodb", endpoint_url=endpoint, config=config),
    )
