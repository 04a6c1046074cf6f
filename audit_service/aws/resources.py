"""The audit bucket and index table, defined once: rendered for boto3 (`aegis audit init`)
and for CloudFormation (ecs/). Importable without boto3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit_service.log.layout import CHECKPOINT_ROOT, ROOT

# Key prefixes of the bucket: records and signed checkpoints live apart, so that a writer of
# one prefix cannot quietly rewrite the other (and a policy may grant them separately).
RECORDS_PREFIX = f"{ROOT}/"
CHECKPOINTS_PREFIX = f"{CHECKPOINT_ROOT}/"

PARTITION_KEY = "PK"
SORT_KEY = "SK"
TTL_ATTRIBUTE = "expires_at"
OPERATIONAL_TTL_S = 90 * 86_400
"""Login items (history and graph neighbourhood) expire this long after their event; the
decision items that point into the log do not."""


@dataclass(frozen=True, slots=True)
class SecondaryIndex:
    """A GSI: its name, partition key and (numeric) sort key attribute, projection ALL."""

    name: str
    partition_key: str
    partition_type: str
    sort_key: str


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """The S3 bucket of the log: versioned, Object Lock in COMPLIANCE mode, Glacier later."""

    lock_mode: str = "COMPLIANCE"
    retention_days: int = 7 * 365
    glacier_after_days: int = 90
    sse_algorithm: str = "AES256"


@dataclass(frozen=True, slots=True)
class TableSpec:
    """The DynamoDB index: one table, PK/SK strings, on-demand, a TTL attribute and GSIs."""

    indexes: tuple[SecondaryIndex, ...]
    billing_mode: str = "PAY_PER_REQUEST"
    ttl_attribute: str = TTL_ATTRIBUTE


# Items (see audit_service.aws.items): decision items `DECISION#{id}` (permanent; the key
# of idempotent conditional writes, read strongly consistent), login items
# `USER#{user}[#shard]` / `TS#{ts}#{id}` (operational, TTL), review items.
# GSI key attributes are written only when non-empty, so each GSI is sparse.
INDEXES = (
    # Decision items: "all blocks in a region (country) by time", and every decision by time.
    SecondaryIndex("by_action_region", "action_region", "S", "ts"),
    SecondaryIndex("by_time", "day_shard", "S", "ts"),
    # Decision items: the review queue (PENDING by event time, DECIDED by review time).
    SecondaryIndex("by_review_state", "review_state", "S", "review_ts"),
    # Login items: the session's logins, and the graph neighbourhood by device, IP and ASN.
    SecondaryIndex("by_session", "session_id", "S", "ts"),
    SecondaryIndex("by_device", "device_id", "S", "ts"),
    SecondaryIndex("by_ip", "ip", "S", "ts"),
    SecondaryIndex("by_asn", "asn_key", "S", "ts"),
)

BUCKET = BucketSpec()
TABLE = TableSpec(indexes=INDEXES)


def _attribute_definitions(table: TableSpec) -> list[dict[str, str]]:
    types = {PARTITION_KEY: "S", SORT_KEY: "S"}
    for index in table.indexes:
        types[index.partition_key] = index.partition_type
        types[index.sort_key] = "N"
    return [{"AttributeName": name, "AttributeType": kind} for name, kind in types.items()]


def _key_schema(partition: str, sort: str) -> list[dict[str, str]]:
    return [
        {"AttributeName": partition, "KeyType": "HASH"},
        {"AttributeName": sort, "KeyType": "RANGE"},
    ]


def _gsis(table: TableSpec) -> list[dict[str, Any]]:
    return [
        {
            "IndexName": index.name,
            "KeySchema": _key_schema(index.partition_key, index.sort_key),
            "Projection": {"ProjectionType": "ALL"},
        }
        for index in table.indexes
    ]


_LIFECYCLE_RULE_ID = "records-to-glacier"


def _lifecycle_rules(bucket: BucketSpec) -> list[dict[str, Any]]:
    """In the S3 API's shape."""
    return [
        {
            "ID": _LIFECYCLE_RULE_ID,
            "Status": "Enabled",
            "Filter": {"Prefix": RECORDS_PREFIX},
            "Transitions": [{"Days": bucket.glacier_after_days, "StorageClass": "GLACIER"}],
        }
    ]


def _cfn_lifecycle_rules(bucket: BucketSpec) -> list[dict[str, Any]]:
    """The same rules as CloudFormation names their fields (Id, Prefix, TransitionInDays)."""
    return [
        {
            "Id": _LIFECYCLE_RULE_ID,
            "Status": "Enabled",
            "Prefix": RECORDS_PREFIX,
            "Transitions": [
                {"TransitionInDays": bucket.glacier_after_days, "StorageClass": "GLACIER"}
            ],
        }
    ]


def _sse_default(bucket: BucketSpec) -> dict[str, str]:
    return {"SSEAlgorithm": bucket.sse_algorithm}


def _objects_arn(bucket_logical_id: str) -> dict[str, str]:
    return {"Fn::Sub": f"${{{bucket_logical_id}.Arn}}/*"}


_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


# boto3 rendering: `aegis audit init`.


def s3_setup_calls(
    bucket_name: str, region: str, bucket: BucketSpec = BUCKET
) -> list[tuple[str, dict[str, Any]]]:
    """(S3 client method, keyword arguments) in the order they must run: Object Lock can
    only be enabled when the bucket is created, and needs versioning."""
    create: dict[str, Any] = {"Bucket": bucket_name, "ObjectLockEnabledForBucket": True}
    if region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    return [
        ("create_bucket", create),
        (
            "put_bucket_versioning",
            {"Bucket": bucket_name, "VersioningConfiguration": {"Status": "Enabled"}},
        ),
        (
            "put_object_lock_configuration",
            {
                "Bucket": bucket_name,
                "ObjectLockConfiguration": {
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {
                        "DefaultRetention": {
                            "Mode": bucket.lock_mode,
                            "Days": bucket.retention_days,
                        }
                    },
                },
            },
        ),
        (
            "put_bucket_lifecycle_configuration",
            {
                "Bucket": bucket_name,
                "LifecycleConfiguration": {"Rules": _lifecycle_rules(bucket)},
            },
        ),
        (
            "put_public_access_block",
            {"Bucket": bucket_name, "PublicAccessBlockConfiguration": _PUBLIC_ACCESS_BLOCK},
        ),
        (
            "put_bucket_encryption",
            {
                "Bucket": bucket_name,
                "ServerSideEncryptionConfiguration": {
                    "Rules": [{"ApplyServerSideEncryptionByDefault": _sse_default(bucket)}]
                },
            },
        ),
    ]


def dynamodb_create_table_args(table_name: str, table: TableSpec = TABLE) -> dict[str, Any]:
    """Keyword arguments of DynamoDB create_table."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": _attribute_definitions(table),
        "KeySchema": _key_schema(PARTITION_KEY, SORT_KEY),
        "GlobalSecondaryIndexes": _gsis(table),
        "BillingMode": table.billing_mode,
    }


def dynamodb_ttl_args(table_name: str, table: TableSpec = TABLE) -> dict[str, Any]:
    """Keyword arguments of DynamoDB update_time_to_live (after the table is ACTIVE)."""
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": table.ttl_attribute},
    }


# CloudFormation rendering: ecs/.


def cloudformation_resources(
    bucket_logical_id: str = "AuditBucket",
    table_logical_id: str = "AuditIndexTable",
    bucket_name: Any = None,
    table_name: Any = None,
    bucket: BucketSpec = BUCKET,
    table: TableSpec = TABLE,
) -> dict[str, Any]:
    """CloudFormation resources of the bucket, its TLS-only policy and the table.

    Names may be strings or intrinsics (e.g. {"Fn::Sub": ...}); None lets CloudFormation
    name them. Both are retained when the stack is deleted: the log outlives its stack.
    """
    bucket_properties: dict[str, Any] = {
        "ObjectLockEnabled": True,
        "ObjectLockConfiguration": {
            "ObjectLockEnabled": "Enabled",
            "Rule": {
                "DefaultRetention": {"Mode": bucket.lock_mode, "Days": bucket.retention_days}
            },
        },
        "VersioningConfiguration": {"Status": "Enabled"},
        "LifecycleConfiguration": {"Rules": _cfn_lifecycle_rules(bucket)},
        "PublicAccessBlockConfiguration": _PUBLIC_ACCESS_BLOCK,
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": _sse_default(bucket)}
            ]
        },
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    }
    if bucket_name is not None:
        bucket_properties["BucketName"] = bucket_name
    table_properties: dict[str, Any] = {
        "AttributeDefinitions": _attribute_definitions(table),
        "KeySchema": _key_schema(PARTITION_KEY, SORT_KEY),
        "GlobalSecondaryIndexes": _gsis(table),
        "BillingMode": table.billing_mode,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": table.ttl_attribute},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    if table_name is not None:
        table_properties["TableName"] = table_name
    bucket_arn = {"Fn::GetAtt": [bucket_logical_id, "Arn"]}
    return {
        bucket_logical_id: {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": bucket_properties,
        },
        f"{bucket_logical_id}Policy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": bucket_logical_id},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [bucket_arn, _objects_arn(bucket_logical_id)],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
        table_logical_id: {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": table_properties,
        },
    }


def audit_task_policy_statements(
    bucket_logical_id: str = "AuditBucket", table_logical_id: str = "AuditIndexTable"
) -> list[dict[str, Any]]:
    """IAM statements the audit task needs, and no more: it is the only writer of storage.

    No delete on the bucket (Object Lock forbids it anyway); table deletion is an operator's
    action (`aegis audit rebuild-index`), not the service's.
    """
    bucket_arn = {"Fn::GetAtt": [bucket_logical_id, "Arn"]}
    table_arn = {"Fn::GetAtt": [table_logical_id, "Arn"]}
    return [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
        },
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [_objects_arn(bucket_logical_id)],
        },
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
                "dynamodb:DescribeTable",
            ],
            "Resource": [table_arn, {"Fn::Sub": f"${{{table_logical_id}.Arn}}/index/*"}],
        },
    ]
