"""The storage part of the committed template, created by CloudFormation on moto's server:
the bucket and the table come out as `aegis audit init` defines them.

moto runs in server mode on a loopback port and boto3 talks to it over HTTP. moto's
CloudFormation (5.2) drops the ECS launch type and task CPU and registers no autoscaling; it
also ignores AWS::S3::BucketPolicy, applies only the encryption of an AWS::S3::Bucket and
no TimeToLiveSpecification. What it drops is checked on the template instead: in
test_ecs_template.py, and against `aegis audit init`'s own calls in
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
from ecs.render import TEMPLATE
from ecs.storage import BUCKET_ID, TABLE_ID
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
    """The committed template cut down to the bucket and the table (they need no parameter)."""
    template = yaml.safe_load((REPO_ROOT / TEMPLATE).read_text())
    storage = {
        logical_id: resource for logical_id, resource in template["Resources"].items()
        if resource["Type"] in ("AWS::S3::Bucket", "AWS::DynamoDB::Table")
    }
    assert set(storage) == {BUCKET_ID, TABLE_ID}
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
