"""The stack's bucket and table are the ones `aegis audit init` makes: both come from
audit_service.aws.resources, and its two renderings (CloudFormation, boto3) agree."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from audit_service.aws.resources import (
    dynamodb_create_table_args,
    dynamodb_ttl_args,
    s3_setup_calls,
)
from ecs.render import TEMPLATE
from ecs.storage import BUCKET_ID, TABLE_ID
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / TEMPLATE).read_text())["Resources"]


def retained_properties(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The resource's properties, once checked that deleting the stack keeps it."""
    resource = resources[logical_id]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    return resource["Properties"]


def api_lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape (CloudFormation names its fields
    Id, Prefix and TransitionInDays)."""
    return {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
        "Transitions": [
            {"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
            for t in rule.get("Transitions", [])
        ],
    }


def test_bucket_is_versioned_locked_and_moved_to_glacier_as_audit_init_does(
    resources: dict[str, Any],
) -> None:
    properties = retained_properties(resources, BUCKET_ID)
    calls = dict(s3_setup_calls("aegis-audit", "eu-west-1"))
    assert properties["ObjectLockEnabled"] is calls["create_bucket"]["ObjectLockEnabledForBucket"]
    assert properties["VersioningConfiguration"] == (
        calls["put_bucket_versioning"]["VersioningConfiguration"]
    )
    assert properties["ObjectLockConfiguration"] == (
        calls["put_object_lock_configuration"]["ObjectLockConfiguration"]
    )
    assert properties["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    rules = [api_lifecycle_rule(rule) for rule in properties["LifecycleConfiguration"]["Rules"]]
    assert rules == calls["put_bucket_lifecycle_configuration"]["LifecycleConfiguration"]["Rules"]
    assert any(t["StorageClass"] == "GLACIER" for rule in rules for t in rule["Transitions"])
    assert properties["PublicAccessBlockConfiguration"] == (
        calls["put_public_access_block"]["PublicAccessBlockConfiguration"]
    )
    [encryption] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    [api_encryption] = calls["put_bucket_encryption"]["ServerSideEncryptionConfiguration"]["Rules"]
    assert encryption["ServerSideEncryptionByDefault"] == (
        api_encryption["ApplyServerSideEncryptionByDefault"]
    )


def test_table_has_the_keys_indexes_and_ttl_audit_init_creates(
    resources: dict[str, Any],
) -> None:
    properties = retained_properties(resources, TABLE_ID)
    create = dynamodb_create_table_args("aegis-audit-index")
    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert properties[key] == create[key], key
    ttl = dynamodb_ttl_args("aegis-audit-index")["TimeToLiveSpecification"]
    assert properties["TimeToLiveSpecification"] == ttl
    assert ttl["Enabled"] is True
