"""What only the audit task gets: its storage settings, its checkpoint signing key (a Secrets
Manager secret) and a writer id of its own."""

from __future__ import annotations

import shlex

from ecs.cfn import Json, ref
from ecs.services import DeployedService
from ecs.storage import BUCKET_ID, TABLE_ID

SIGNING_KEY_PARAMETER = "AuditSigningKeySecretArn"
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)


def audit_settings() -> Json:
    """The audit service's settings (without its env prefix) that select S3 + DynamoDB."""
    return {
        "BACKEND": "aws",
        "S3_BUCKET": ref(BUCKET_ID),
        "DYNAMODB_TABLE": ref(TABLE_ID),
        "AWS_REGION": ref("AWS::Region"),
        # Several audit tasks behind round_robin: a record mostly reaches another task than
        # its GetContext, which would refuse its context reference and have it sent twice.
        "SERVED_CONTEXT_BYTES": "0",
    }


def audit_secrets(service: DeployedService) -> list[Json]:
    """ECS injects the signing key from Secrets Manager; it never appears in the template."""
    return [{"Name": f"{service.env_prefix}SIGNING_KEY", "ValueFrom": ref(SIGNING_KEY_PARAMETER)}]


def secret_read_statements() -> list[Json]:
    """What the audit execution role needs to inject the key, and nothing else of Secrets
    Manager."""
    return [{"Effect": "Allow", "Action": list(SECRET_ACTIONS),
             "Resource": ref(SIGNING_KEY_PARAMETER)}]


def audit_command(service: DeployedService) -> list[str]:
    """The service's command, with WRITER_ID set to this task's own id.

    Every live writer needs its own hash chain, and the tasks of one service share their
    environment: the last part of ECS_CONTAINER_METADATA_URI_V4 (which ECS sets in every
    container) is unique to this container of this task.
    """
    writer = f'export {service.env_prefix}WRITER_ID="${{ECS_CONTAINER_METADATA_URI_V4##*/}}"'
    return ["sh", "-c", f"{writer} && exec {shlex.join(service.command)}"]
