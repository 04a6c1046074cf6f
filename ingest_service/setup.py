"""Creates what the consumer reads and writes: the three streams and the lease table (the
local cluster and the tests; production's come from the ECS template)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ingest_service.settings import IngestSettings


def create_resources(kinesis: Any, dynamodb: Any, settings: IngestSettings,
                     input_shards: int = 1) -> None:
    """Create the streams and the lease table, waiting until each is usable; ones that
    already exist are kept."""
    streams = (
        (settings.input_stream, input_shards), (settings.output_stream, 1),
        (settings.dead_letter_stream, 1),
    )
    for name, shards in streams:
        try:
            kinesis.create_stream(StreamName=name, ShardCount=shards)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
    try:
        dynamodb.create_table(
            TableName=settings.lease_table,
            AttributeDefinitions=[{"AttributeName": "shard_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "shard_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    for name, _ in streams:
        kinesis.get_waiter("stream_exists").wait(StreamName=name)
    dynamodb.get_waiter("table_exists").wait(TableName=settings.lease_table)
