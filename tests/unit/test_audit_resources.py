"""One definition of the bucket and the table, rendered for boto3 and for CloudFormation."""

from __future__ import annotations

from audit_service.aws import resources as res


def test_both_renderings_make_the_same_table() -> None:
    boto = res.dynamodb_create_table_args("t")
    cfn = res.cloudformation_resources(table_name="t")["AuditIndexTable"]["Properties"]
    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert cfn[key] == boto[key], key
    assert cfn["TimeToLiveSpecification"] == res.dynamodb_ttl_args("t")["TimeToLiveSpecification"]
    names = {gsi["IndexName"] for gsi in boto["GlobalSecondaryIndexes"]}
    assert {"by_action_region", "by_session", "by_device", "by_ip"} <= names
    assert boto["BillingMode"] == "PAY_PER_REQUEST"
    assert {a["AttributeName"] for a in boto["AttributeDefinitions"]} == {
        "PK", "SK", *(i.partition_key for i in res.INDEXES), *(i.sort_key for i in res.INDEXES)
    }


def test_both_renderings_make_the_same_bucket() -> None:
    calls = dict(res.s3_setup_calls("b", "eu-north-1"))
    cfn = res.cloudformation_resources(bucket_name="b")["AuditBucket"]["Properties"]
    assert calls["create_bucket"] == {
        "Bucket": "b", "ObjectLockEnabledForBucket": True,
        "CreateBucketConfiguration": {"LocationConstraint": "eu-north-1"},
    }
    assert "CreateBucketConfiguration" not in dict(res.s3_setup_calls("b", "us-east-1"))[
        "create_bucket"
    ]
    lock = calls["put_object_lock_configuration"]["ObjectLockConfiguration"]
    assert cfn["ObjectLockConfiguration"] == lock
    assert lock["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 2555}
    assert cfn["VersioningConfiguration"] == calls["put_bucket_versioning"][
        "VersioningConfiguration"
    ]
    (api_rule,) = calls["put_bucket_lifecycle_configuration"]["LifecycleConfiguration"]["Rules"]
    (cfn_rule,) = cfn["LifecycleConfiguration"]["Rules"]
    assert (cfn_rule["Id"], cfn_rule["Prefix"], cfn_rule["Transitions"]) == (
        api_rule["ID"], api_rule["Filter"]["Prefix"],
        [{"TransitionInDays": t["Days"], "StorageClass": t["StorageClass"]}
         for t in api_rule["Transitions"]],
    )
    assert cfn["PublicAccessBlockConfiguration"] == calls["put_public_access_block"][
        "PublicAccessBlockConfiguration"
    ]
    # Object Lock must be enabled at creation, before its configuration.
    assert res.s3_setup_calls("b", "us-east-1")[0][0] == "create_bucket"


def test_the_stack_keeps_the_log_when_deleted() -> None:
    resources = res.cloudformation_resources()
    assert resources["AuditBucket"]["DeletionPolicy"] == "Retain"
    assert resources["AuditIndexTable"]["DeletionPolicy"] == "Retain"
    statements = res.audit_task_policy_statements()
    actions = {a for s in statements for a in s["Action"]}
    assert "s3:PutObject" in actions and not any("Delete" in a for a in actions if "s3" in a)
