"""The consumer's boto3 clients (Kinesis and DynamoDB), built from its settings."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from ingest_service.settings import IngestSettings

# botocore's adaptive mode backs off on throttling (Kinesis allows 5 reads/s per shard).
_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5})


def make_clients(settings: IngestSettings) -> tuple[Any, Any]:
    """(kinesis, dynamodb) for the settings' endpoint and region."""
    options: dict[str, Any] = {"config": _CONFIG}
    if settings.aws_endpoint_url:
        options["endpoint_url"] = settings.aws_endpoint_url
    if settings.aws_region:
        options["region_name"] = settings.aws_region
    session = boto3.session.Session()
    return session.client("kinesis", **options), session.client("dynamodb", **options)
