"""The storage part of the committed template, created by CloudFormation on moto's server:
the bucket and the table come out as `aegis audit init` defines them, the stream consumer's
streams and lease table as the local cluster makes them.

moto runs in server mode on a loopback port and boto3 talks to it over HTTP. moto's
CloudFormation (5.2) drops the ECS launch type and task CPU and registers no autoscaling; it
also ignores AWS::S3::BucketPolicy, applies only the encryption of an AWS::S3::Bucket and
no TimeToLiveSpecification nor StreamEncryption. What it drops is checked on the template
instead: in test_ecs_template.py, and against `aegis audit init`'s own calls in
test_ecs_storage_definitions.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

from audit_service.aws.resources import BUCKET, INDEXES, PARTITION_KEY, SORT_KEY, TABLE
from ecs.ingest_task import LEASE_TABLE_ID, STREAM_IDS
from ecs.render import TEMPLATE
from ecs.storage import BUCKET_ID, TABLE_ID
from ingest_service import resources as ingest_resources
from ingest_service.settings import IngestSettings
from ingest_service.setup import create_resources
from tests.conftest import REPO_ROOT

REGION = "us-east-1"
STACK = "aegis-storage"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


def storage_template() -> dict[str, Any]:
    """The committed template cut down to the buckets, tables and streams (they need no
    parameter)."""
    template = yaml.safe_load((REPO_ROOT / TEMPLATE).read_text())
    storage = {
        logical_id: resource for logical_id, resource in template["Resources"].items()
        if resource["Type"] in ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Kinesis::Stream")
    }
    assert set(storage) == {BUCKET_ID, TABLE_ID, LEASE_TABLE_ID, *STREAM_IDS.values()}
    return {"AWSTemplateFormatVersion": template["AWSTemplateFormatVersion"],
            "Resources": storage}


@pytest.fixture(scope="module")
def created(endpoint: str, session: boto3.Session) -> dict[str, str]:
    """Physical names by logical id, once the stack is created."""
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(storage_template()))
    [stack] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    resources = cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}


def test_bucket_is_created_encrypted(
    endpoint: str, session: boto3.Session, created: dict[str, str]
) -> None:
    s3 = session.client("s3", endpoint_url=endpoint)
    bucket = created[BUCKET_ID]
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules] == [
        BUCKET.sse_algorithm
    ]
    s3.put_object(Bucket=bucket, Key="audit/2026/01/02/prod/w1/seg.jsonl", Body=b"{}\n")
    assert s3.get_object(Bucket=bucket, Key="audit/2026/01/02/prod/w1/seg.jsonl")[
        "Body"].read() == b"{}\n"


def test_table_is_created_with_the_keys_and_indexes_of_the_definitions(
    endpoint: str, session: boto3.Session, created: dict[str, str]
) -> None:
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    table = dynamodb.describe_table(TableName=created[TABLE_ID])["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
    ]
    indexes = {
        index["IndexName"]: [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]]
        for index in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        index.name: [(index.partition_key, "HASH"), (index.sort_key, "RANGE")]
        for index in INDEXES
    }
    assert table["BillingModeSummary"]["BillingMode"] == TABLE.billing_mode


def test_the_consumers_streams_and_lease_table_come_out_as_the_local_cluster_makes_them(
    endpoint: str, session: boto3.Session, created: dict[str, str]
) -> None:
    kinesis = session.client("kinesis", endpoint_url=endpoint)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    local = IngestSettings(input_stream="local-in", output_stream="local-out",
                           dead_letter_stream="local-dead", lease_table="local-leases")
    create_resources(kinesis, dynamodb, local)

    def stream(name: str) -> dict[str, Any]:
        summary: dict[str, Any] = kinesis.describe_stream_summary(StreamName=name)[
            "StreamDescriptionSummary"]
        return summary

    template = storage_template()["Resources"]
    for spec in ingest_resources.STREAMS:
        deployed, made = (stream(created[STREAM_IDS[spec]]),
                          stream(ingest_resources.stream_name(local, spec)))
        assert deployed["OpenShardCount"] == made["OpenShardCount"] == spec.shards
        # moto's CloudFormation drops StreamEncryption: the template says it instead.
        assert (made["EncryptionType"], made["KeyId"]) == ("KMS", ingest_resources.STREAM_KEY)
        assert template[STREAM_IDS[spec]]["Properties"]["StreamEncryption"] == {
            "EncryptionType": "KMS", "KeyId": ingest_resources.STREAM_KEY}

    def table(name: str) -> tuple[object, ...]:
        described = dynamodb.describe_table(TableName=name)["Table"]
        return (described["KeySchema"], described["AttributeDefinitions"],
                described["BillingModeSummary"]["BillingMode"])

    assert table(created[LEASE_TABLE_ID]) == table(local.lease_table)
