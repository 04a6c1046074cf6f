"""Least-privilege roles: per service, an execution role (pull its own image, write its own
logs) and a task role (export traces and metrics; storage for the audit service only, its
streams and lease table for the stream consumer only)."""

from __future__ import annotations

from ecs.cfn import Json, get_att, policy_document, ref, sub
from ecs.collector import METRICS_LOG_GROUP
from ecs.services import DeployedService

TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"

# ECR refuses to scope the token call to a repository; the pull itself is scoped.
ECR_TOKEN_ACTIONS = ("ecr:GetAuthorizationToken",)
ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
# What the X-Ray exporter of the collector sidecar calls; X-Ray has no resource-level scoping.
TRACE_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
# What the collector's CloudWatch (embedded metric format) exporter calls, on its log group.
METRIC_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
                  "logs:DescribeLogStreams", "logs:PutLogEvents")


def metrics_log_group_arn() -> Json:
    return sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
               f"log-group:{METRICS_LOG_GROUP}:*")


def repository_arn(service: DeployedService) -> Json:
    return sub("arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/"
               f"${{ImageRepositoryPrefix}}/{service.name}")


def _allow(actions: tuple[str, ...], resource: object) -> Json:
    return {"Effect": "Allow", "Action": list(actions), "Resource": resource}


def _trust(confused_deputy_guard: bool) -> Json:
    statement: Json = {
        "Effect": "Allow",
        "Principal": {"Service": TASKS_PRINCIPAL},
        "Action": "sts:AssumeRole",
    }
    if confused_deputy_guard:
        # Only ECS tasks of this account may assume the role, not ECS on another's behalf.
        statement["Condition"] = {
            "ArnLike": {"aws:SourceArn": sub(
                "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*")},
            "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")},
        }
    return policy_document([statement])


def execution_role(
    service: DeployedService, log_group_id: str, secret_statements: list[Json]
) -> Json:
    """The role ECS itself uses to start the task: this image, this log group, the task's
    secrets (`secret_statements`), nothing else."""
    statements = [
        _allow(ECR_TOKEN_ACTIONS, "*"),
        _allow(ECR_PULL_ACTIONS, repository_arn(service)),
        _allow(LOG_ACTIONS, get_att(log_group_id, "Arn")),
        *secret_statements,
    ]
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": f"ECS execution role of aegis {service.name}",
            "AssumeRolePolicyDocument": _trust(confused_deputy_guard=False),
            "Policies": [{"PolicyName": "pull-image-write-logs",
                          "PolicyDocument": policy_document(statements)}],
        },
    }


def task_role(service: DeployedService, data_policies: dict[str, list[Json]]) -> Json:
    """The role the service's code runs as: traces and metrics, plus `data_policies` (policy
    name -> statements: the audit storage, the consumer's streams)."""
    policies = [{"PolicyName": "export-traces",
                 "PolicyDocument": policy_document([_allow(TRACE_ACTIONS, "*")])},
                {"PolicyName": "export-metrics",
                 "PolicyDocument": policy_document(
                     [_allow(METRIC_ACTIONS, metrics_log_group_arn())])}]
    policies += [{"PolicyName": name, "PolicyDocument": policy_document(statements)}
                 for name, statements in data_policies.items()]
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": f"Task role of aegis {service.name}",
            "AssumeRolePolicyDocument": _trust(confused_deputy_guard=True),
            "Policies": policies,
        },
    }
