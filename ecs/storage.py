"""The audit bucket and table in the stack: audit_service.aws.resources' definitions (the same
that `aegis audit init` applies), with a deny for everyone on tampering with the log."""

from __future__ import annotations

from audit_service.aws import resources as aws_resources
from ecs.cfn import Json, get_att, ref, sub

BUCKET_ID = "AuditBucket"
TABLE_ID = "AuditIndexTable"

# Nobody may delete a record, change its retention or bypass it. Object Lock in COMPLIANCE
# mode already refuses most of this; the deny also refuses delete markers, which would hide
# the newest records without deleting a version. (Only the account root can remove the policy.)
TAMPER_ACTIONS = (
    "s3:BypassGovernanceRetention",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
)


def tamper_denial() -> Json:
    """The bucket-policy statement that denies TAMPER_ACTIONS to every principal."""
    return {
        "Sid": "DenyAuditTampering",
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(TAMPER_ACTIONS),
        "Resource": sub(f"${{{BUCKET_ID}.Arn}}/*"),
    }


def storage_resources() -> dict[str, Json]:
    """Bucket, bucket policy (with the tamper denial) and table, by logical id."""
    resources = aws_resources.cloudformation_resources(BUCKET_ID, TABLE_ID)
    policies = [
        resource for resource in resources.values()
        if resource["Type"] == "AWS::S3::BucketPolicy"
        and resource["Properties"]["Bucket"] == ref(BUCKET_ID)
    ]
    if len(policies) != 1:
        raise ValueError(f"expected one policy of {BUCKET_ID} from aws_resources, got "
                         f"{len(policies)}")
    policies[0]["Properties"]["PolicyDocument"]["Statement"].append(tamper_denial())
    return resources


def audit_task_statements() -> list[Json]:
    """What the audit task may do to storage (and no other task may)."""
    return aws_resources.audit_task_policy_statements(BUCKET_ID, TABLE_ID)


def storage_outputs() -> dict[str, Json]:
    return {
        "AuditBucketName": {"Description": "The audit log's S3 bucket.", "Value": ref(BUCKET_ID)},
        "AuditBucketArn": {"Description": "The audit log's S3 bucket.",
                           "Value": get_att(BUCKET_ID, "Arn")},
        "AuditIndexTableName": {"Description": "The audit index's DynamoDB table.",
                                "Value": ref(TABLE_ID)},
    }
