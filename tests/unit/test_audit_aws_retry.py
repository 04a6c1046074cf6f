"""The AWS backend's retry policy: throttling and 5xx again, within the caller's deadline."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from audit_service.aws.clients import PartialBatch, Retrier, retryable


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code},
         "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


@pytest.mark.parametrize(
    ("error", "again"),
    [
        (client_error("ThrottlingException", 400), True),
        (client_error("ProvisionedThroughputExceededException", 400), True),
        (client_error("SlowDown", 503), True),
        (client_error("InternalError", 500), True),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (PartialBatch("3 items unprocessed"), True),
        (client_error("ConditionalCheckFailedException", 400), False),
        (client_error("AccessDenied", 403), False),
        (ValueError("a bug"), False),
    ],
)
def test_what_is_retried(error: Exception, again: bool) -> None:
    assert retryable(error) is again


def test_throttling_is_retried_until_the_call_succeeds() -> None:
    failures = [client_error("ThrottlingException", 400)] * 2

    def call(value: str) -> str:
        if failures:
            raise failures.pop()
        return value

    assert Retrier(default_s=30.0).call(call, "done") == "done"
    assert failures == []


def test_an_answer_is_not_retried() -> None:
    calls = []

    def call() -> None:
        calls.append(1)
        raise client_error("ConditionalCheckFailedException", 400)

    with pytest.raises(ClientError):
        Retrier(default_s=30.0).call(call)
    assert len(calls) == 1


def test_no_retry_starts_after_the_deadline() -> None:
    calls = []

    def call() -> None:
        calls.append(1)
        raise client_error("ThrottlingException", 400)

    with pytest.raises(ClientError):
        Retrier(default_s=30.0).call(call, deadline=time.monotonic())
    assert len(calls) == 1
