"""The consumer's streams and lease table, defined once: rendered for boto3 (the local cluster,
the tests) and for CloudFormation (ecs/). Importable without boto3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest_service.settings import IngestSettings

# The lease table: one item per shard, keyed by its id (ingest_service.leases).
LEASE_KEY = "shard_id"
LEASE_BILLING_MODE = "PAY_PER_REQUEST"
# Kinesis's own key: readers and writers need no KMS permission of their own.
STREAM_KEY = "alias/aws/kinesis"


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One stream: the setting of IngestSettings that names it, and its shard count."""

    setting: str
    shards: int


# The input's shards bound how many consumers read at once (one lease per shard); decisions
# and dead letters are a fraction of its bytes.
INPUT = StreamSpec("input_stream", 2)
OUTPUT = StreamSpec("output_stream", 1)
DEAD_LETTERS = StreamSpec("dead_letter_stream", 1)
STREAMS = (INPUT, OUTPUT, DEAD_LETTERS)


def stream_name(settings: IngestSettings, stream: StreamSpec) -> str:
    name: str = getattr(settings, stream.setting)
    return name


# boto3 rendering.


def create_stream_args(name: str, stream: StreamSpec) -> dict[str, Any]:
    """Keyword arguments of Kinesis create_stream."""
    return {"StreamName": name, "ShardCount": stream.shards}


def stream_encryption_args(name: str) -> dict[str, Any]:
    """Keyword arguments of Kinesis start_stream_encryption (after the stream is ACTIVE)."""
    return {"StreamName": name, "EncryptionType": "KMS", "KeyId": STREAM_KEY}


def lease_table_args(name: str) -> dict[str, Any]:
    """Keyword arguments of DynamoDB create_table."""
    return {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": LEASE_KEY, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": LEASE_KEY, "KeyType": "HASH"}],
        "BillingMode": LEASE_BILLING_MODE,
    }


# CloudFormation rendering: ecs/.


def cloudformation_stream(stream: StreamSpec) -> dict[str, Any]:
    """An AWS::Kinesis::Stream named by CloudFormation (its Ref is the name)."""
    return {
        "Type": "AWS::Kinesis::Stream",
        "Properties": {
            "ShardCount": stream.shards,
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": STREAM_KEY},
        },
    }


def cloudformation_lease_table() -> dict[str, Any]:
    """The lease table as an AWS::DynamoDB::Table named by CloudFormation. Leases are
    rebuilt by the consumers (a lost table replays from the streams' start, and the router
    answers repeats with their recorded decisions), so it is not retained."""
    args = lease_table_args("")
    return {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "AttributeDefinitions": args["AttributeDefinitions"],
            "KeySchema": args["KeySchema"],
            "BillingMode": args["BillingMode"],
            "SSESpecification": {"SSEEnabled": True},
        },
    }
