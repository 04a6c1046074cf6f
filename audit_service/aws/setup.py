"""`aegis audit init`: the bucket and the table, made from the definitions in resources.py."""

from __future__ import annotations

from typing import Any

from audit_service.aws import resources as aws_resources
from audit_service.aws.clients import error_code, make_clients
from audit_service.settings import AuditSettings

_TABLE_WAIT = {"Delay": 1, "MaxAttempts": 120}


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


def create_bucket(s3: Any, bucket: str) -> None:
    """Versioning, Object Lock (COMPLIANCE, default retention), Glacier lifecycle, no public
    access, encryption: in the order S3 requires."""
    for method, arguments in aws_resources.s3_setup_calls(bucket, s3.meta.region_name):
        getattr(s3, method)(**arguments)


def table_exists(ddb: Any, table: str) -> bool:
    try:
        ddb.describe_table(TableName=table)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True


def create_table(ddb: Any, table: str) -> None:
    """Keys, GSIs and on-demand billing, then (once ACTIVE) the TTL."""
    ddb.create_table(**aws_resources.dynamodb_create_table_args(table))
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig=_TABLE_WAIT)
    ddb.update_time_to_live(**aws_resources.dynamodb_ttl_args(table))


def init_storage(settings: AuditSettings, clients: tuple[Any, Any] | None = None) -> list[str]:
    """Create what is missing; never changes what exists. Returns one line per resource."""
    if not settings.s3_bucket or not settings.dynamodb_table:
        raise ValueError("AEGIS_AUDIT_S3_BUCKET and AEGIS_AUDIT_DYNAMODB_TABLE must be set")
    s3, ddb = clients or make_clients(settings)
    done = []
    if bucket_exists(s3, settings.s3_bucket):
        done.append(f"bucket {settings.s3_bucket}: exists, left as it is")
    else:
        create_bucket(s3, settings.s3_bucket)
        done.append(f"bucket {settings.s3_bucket}: created (versioning, Object Lock "
                    f"{aws_resources.BUCKET.lock_mode} {aws_resources.BUCKET.retention_days} "
                    f"days, Glacier after {aws_resources.BUCKET.glacier_after_days} days)")
    if table_exists(ddb, settings.dynamodb_table):
        done.append(f"table {settings.dynamodb_table}: exists, left as it is")
    else:
        create_table(ddb, settings.dynamodb_table)
        names = ", ".join(index.name for index in aws_resources.TABLE.indexes)
        done.append(f"table {settings.dynamodb_table}: created (GSIs {names}; TTL on "
                    f"{aws_resources.TTL_ATTRIBUTE})")
    return done
