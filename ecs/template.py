"""The CloudFormation template of the whole mesh: cluster, Cloud Map namespace, audit storage,
the stream consumer's streams and lease table, alarms, and for every service its roles, log
group, security group, discovery name, task definition, Fargate service and autoscaling."""

from __future__ import annotations

from dataclasses import dataclass, fields

from aegis_mesh.cluster import INGEST
from aegis_runtime.settings import ServiceSettings
from ecs.alarms import ALARM_PARAMETERS, alarm_resources
from ecs.audit_task import (
    SIGNING_KEY_PARAMETER,
    audit_command,
    audit_secrets,
    secret_read_statements,
)
from ecs.cfn import Json, get_att, pascal, ref, sub
from ecs.collector import collector_environment
from ecs.config import DeployConfig
from ecs.environment import container_environment, discovery_address
from ecs.iam import execution_role, task_role
from ecs.ingest_task import (
    ingest_outputs,
    ingest_resources,
    ingest_task_statements,
    iterator_age_policy,
)
from ecs.services import AUDIT, PLATFORM, ROUTER, DeployedService
from ecs.storage import audit_task_statements, storage_outputs, storage_resources
from ecs.tls import TLS_PARAMETER, TLS_SECRET_PREFIX_PARAMETER, tls_read_statements, tls_secrets

CLUSTER_ID = "Cluster"
NAMESPACE_ID = "Namespace"
COLLECTOR = "otel-collector"
# Python and the runtime keep nothing on disk; the read-only root gets one scratch volume.
SCRATCH_VOLUME = "tmp"


def _settings_pattern(field: str) -> str:
    """The regex the services' settings hold `field` to, so the stack refuses what they would."""
    metadata = ServiceSettings.model_fields[field].metadata
    return next(str(m.pattern) for m in metadata if getattr(m, "pattern", None))


PARAMETERS: dict[str, Json] = {
    "Environment": {
        "Type": "String",
        "Default": "prod",
        "AllowedPattern": _settings_pattern("environment"),
        "Description": "Deployment environment: in the audit records' keys, log group names "
        "and task families.",
    },
    "ImageTag": {
        "Type": "String",
        "AllowedPattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
        "Description": "Tag of the images pushed by `python -m ecs.images` (e.g. the git sha).",
    },
    "ImageRepositoryPrefix": {
        "Type": "String",
        "Default": "aegis",
        "AllowedPattern": "^[a-z0-9]+([._/-][a-z0-9]+)*$",
        "Description": "ECR repositories (this account and region) are PREFIX/SERVICE.",
    },
    "VpcId": {"Type": "AWS::EC2::VPC::Id", "Description": "VPC of the tasks and namespace."},
    "SubnetIds": {
        "Type": "List<AWS::EC2::Subnet::Id>",
        "Description": "Private subnets of the tasks, with a route to ECR, S3, DynamoDB, "
        "CloudWatch Logs and X-Ray (NAT or VPC endpoints).",
    },
    "ClientSecurityGroupId": {
        "Type": "AWS::EC2::SecurityGroup::Id",
        "Description": "Callers of Score: the only group that may reach the router.",
    },
    "OperatorSecurityGroupId": {
        "Type": "AWS::EC2::SecurityGroup::Id",
        "Description": "Reviewers' and operators' tools: may reach the audit service.",
    },
    SIGNING_KEY_PARAMETER: {
        "Type": "String",
        "AllowedPattern": "^arn:aws[a-z-]*:secretsmanager:.+$",
        "Description": "ARN of the Secrets Manager secret holding the Ed25519 key that signs "
        "audit checkpoints (PKCS#8 PEM or base64 of the 32 raw bytes).",
    },
    TLS_SECRET_PREFIX_PARAMETER: TLS_PARAMETER,
}


@dataclass(frozen=True, slots=True)
class ServiceIds:
    """Logical ids of one service's resources: the service's prefix + the field, in Pascal
    case (`GeoLogGroup`, `GeoTaskDefinition`, ...)."""

    log_group: str
    execution_role: str
    task_role: str
    security_group: str
    discovery: str
    task_definition: str
    service: str
    scalable_target: str
    cpu_scaling: str
    memory_scaling: str


def ids(service: DeployedService) -> ServiceIds:
    return ServiceIds(**{
        part.name: service.logical_id + pascal(part.name) for part in fields(ServiceIds)
    })


def render_template(services: list[DeployedService], config: DeployConfig) -> Json:
    """The whole stack as a CloudFormation document (a dict, ready for YAML or JSON)."""
    resources: dict[str, Json] = {
        CLUSTER_ID: {
            "Type": "AWS::ECS::Cluster",
            "Properties": {
                "ClusterName": sub("aegis-${Environment}"),
                "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
            },
        },
        NAMESPACE_ID: {
            "Type": "AWS::ServiceDiscovery::PrivateDnsNamespace",
            "Properties": {
                "Name": config.namespace,
                "Vpc": ref("VpcId"),
                "Description": "gRPC discovery: one A record per task, resolved by round_robin",
            },
        },
    }
    resources |= storage_resources()
    resources |= ingest_resources()
    resources |= alarm_resources([s.name for s in services if s.name not in PLATFORM])
    for service in services:
        resources |= _service_resources(service, services, config)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "AegisAI: the Score mesh on ECS Fargate (generated by `make ecs-render` "
        "from aegis_domain/registry.yaml and ecs/deploy.yaml; do not edit)",
        "Parameters": PARAMETERS | ALARM_PARAMETERS,
        "Resources": resources,
        "Outputs": _outputs(services, config),
    }


def _service_resources(
    service: DeployedService, services: list[DeployedService], config: DeployConfig
) -> dict[str, Json]:
    rid = ids(service)
    is_audit = service.name == AUDIT
    data_policies = {
        AUDIT: {"audit-storage": audit_task_statements()},
        INGEST: {"ingest-streams": ingest_task_statements()},
    }.get(service.name, {})
    secrets = [*tls_read_statements(service), *(secret_read_statements() if is_audit else [])]
    return {
        rid.log_group: {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub(f"/aegis/${{Environment}}/{service.name}"),
                "RetentionInDays": config.log_retention_days,
            },
        },
        rid.execution_role: execution_role(service, rid.log_group, secrets),
        rid.task_role: task_role(service, data_policies),
        rid.security_group: _security_group(service, services),
        rid.discovery: {
            "Type": "AWS::ServiceDiscovery::Service",
            "Properties": {
                "Name": service.name,
                "NamespaceId": ref(NAMESPACE_ID),
                "DnsConfig": {
                    "RoutingPolicy": "MULTIVALUE",
                    "DnsRecords": [{"Type": "A", "TTL": config.dns_ttl_s}],
                },
                # ECS reports each task's container health check here, and DNS answers
                # with healthy tasks only.
                "HealthCheckCustomConfig": {"FailureThreshold": 1},
            },
        },
        rid.task_definition: _task_definition(service, services, config),
        rid.service: _ecs_service(service, services),
        **_autoscaling(service, config),
    }


def _security_group(service: DeployedService, services: list[DeployedService]) -> Json:
    sources: list[tuple[str, Json]]
    if service.name == ROUTER:
        sources = [("Score callers", ref("ClientSecurityGroupId"))]
        sources += [(f"the {s.name} service", get_att(ids(s).security_group, "GroupId"))
                    for s in services if s.name == INGEST]
    elif service.name == INGEST:
        # It calls the router and AWS; nobody calls it (its health is checked in its task).
        sources = []
    else:
        router = next(s for s in services if s.name == ROUTER)
        sources = [("the router", get_att(ids(router).security_group, "GroupId"))]
        if service.name == AUDIT:
            sources.append(("operators and reviewers", ref("OperatorSecurityGroupId")))
    properties: Json = {
        "GroupDescription": f"aegis {service.name}: gRPC {service.port} from its callers"
        if sources else f"aegis {service.name}: no ingress",
        "VpcId": ref("VpcId"),
    }
    if sources:
        properties["SecurityGroupIngress"] = [
            {
                "Description": f"gRPC from {who}",
                "IpProtocol": "tcp",
                "FromPort": service.port,
                "ToPort": service.port,
                "SourceSecurityGroupId": source,
            }
            for who, source in sources
        ]
    return {"Type": "AWS::EC2::SecurityGroup", "Properties": properties}


def _log_configuration(service: DeployedService, stream_prefix: str) -> Json:
    return {
        "LogDriver": "awslogs",
        "Options": {
            "awslogs-group": ref(ids(service).log_group),
            "awslogs-region": ref("AWS::Region"),
            "awslogs-stream-prefix": stream_prefix,
            # A slow CloudWatch must not stall scoring: logs buffer, and drop when full.
            "mode": "non-blocking",
            "max-buffer-size": "4m",
        },
    }


def _task_definition(
    service: DeployedService, services: list[DeployedService], config: DeployConfig
) -> Json:
    rid = ids(service)
    is_audit = service.name == AUDIT
    app: Json = {
        "Name": service.name,
        "Image": sub("${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/"
                     f"${{ImageRepositoryPrefix}}/{service.name}:${{ImageTag}}"),
        "Essential": True,
        "Command": audit_command(service) if is_audit else service.command,
        "PortMappings": [{"Name": "grpc", "ContainerPort": service.port, "Protocol": "tcp"}],
        "Environment": container_environment(service, services, config),
        "HealthCheck": {
            "Command": service.health_check,
            "Interval": 10,
            "Timeout": 5,
            "Retries": 3,
            "StartPeriod": config.health_check_start_period_s,
        },
        # SIGKILL only after the server's own drain (grace period) has had its time.
        "StopTimeout": config.stop_timeout_s,
        "ReadonlyRootFilesystem": True,
        "MountPoints": [{"SourceVolume": SCRATCH_VOLUME, "ContainerPath": "/tmp",
                         "ReadOnly": False}],
        "LogConfiguration": _log_configuration(service, service.name),
    }
    app["Secrets"] = [*tls_secrets(service), *(audit_secrets(service) if is_audit else [])]
    collector = {
        "Name": COLLECTOR,
        "Image": config.otel_collector_image,
        # Losing traces must not stop scoring: the collector is not essential.
        "Essential": False,
        "Environment": collector_environment(),
        "MemoryReservation": config.otel_collector_memory_mib,
        "LogConfiguration": _log_configuration(service, COLLECTOR),
    }
    return {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Family": sub(f"aegis-${{Environment}}-{service.name}"),
            "Cpu": str(service.size.cpu),
            "Memory": str(service.size.memory_mib),
            "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
            "RuntimePlatform": {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"},
            "ExecutionRoleArn": get_att(rid.execution_role, "Arn"),
            "TaskRoleArn": get_att(rid.task_role, "Arn"),
            "Volumes": [{"Name": SCRATCH_VOLUME}],
            "ContainerDefinitions": [app, collector],
        },
    }


def _ecs_service(service: DeployedService, services: list[DeployedService]) -> Json:
    rid = ids(service)
    resource: Json = {
        "Type": "AWS::ECS::Service",
        "Properties": {
            "Cluster": ref(CLUSTER_ID),
            "LaunchType": "FARGATE",
            "PlatformVersion": "LATEST",
            "TaskDefinition": ref(rid.task_definition),
            # The first count; autoscaling owns it afterwards.
            "DesiredCount": service.size.min_tasks,
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 100,
                "MaximumPercent": 200,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "DISABLED",
                    "Subnets": ref("SubnetIds"),
                    "SecurityGroups": [get_att(rid.security_group, "GroupId")],
                }
            },
            "ServiceRegistries": [{"RegistryArn": get_att(rid.discovery, "Arn")}],
            "EnableECSManagedTags": True,
            "PropagateTags": "SERVICE",
        },
    }
    if service.name == ROUTER:
        # The router waits for the audit service at start; agents it tolerates missing, but
        # a first deployment should not begin degraded.
        resource["DependsOn"] = [ids(s).service for s in services
                                 if s.name not in (ROUTER, INGEST)]
    if service.name == INGEST:
        # Records read before the router answers would only be read again: start after it.
        resource["DependsOn"] = [ids(s).service for s in services if s.name == ROUTER]
    return resource


def _autoscaling(service: DeployedService, config: DeployConfig) -> dict[str, Json]:
    rid = ids(service)
    scaling = config.scaling

    def policy(kind: str, metric: str, target: float) -> Json:
        return {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": sub(f"aegis-${{Environment}}-{service.name}-{kind}"),
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": ref(rid.scalable_target),
                "TargetTrackingScalingPolicyConfiguration": {
                    "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
                    "TargetValue": target,
                    "ScaleOutCooldown": scaling.scale_out_cooldown_s,
                    "ScaleInCooldown": scaling.scale_in_cooldown_s,
                },
            },
        }

    resources: dict[str, Json] = {
        rid.scalable_target: {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {
                "ServiceNamespace": "ecs",
                "ScalableDimension": "ecs:service:DesiredCount",
                "ResourceId": {"Fn::Join": ["/", [
                    "service", ref(CLUSTER_ID), get_att(rid.service, "Name")]]},
                "MinCapacity": service.size.min_tasks,
                "MaxCapacity": service.size.max_tasks,
            },
        },
        rid.cpu_scaling: policy(
            "cpu", "ECSServiceAverageCPUUtilization", scaling.cpu_target_percent
        ),
        rid.memory_scaling: policy(
            "memory", "ECSServiceAverageMemoryUtilization", scaling.memory_target_percent
        ),
    }
    if service.name == INGEST:
        resources[f"{service.logical_id}IteratorAgeScaling"] = iterator_age_policy(
            service.name, rid.scalable_target, config.ingest,
            (scaling.scale_out_cooldown_s, scaling.scale_in_cooldown_s),
        )
    return resources


def _outputs(services: list[DeployedService], config: DeployConfig) -> dict[str, Json]:
    by_name = {s.name: s for s in services}
    return {
        "ClusterName": {"Description": "The ECS cluster.", "Value": ref(CLUSTER_ID)},
        "RouterAddress": {
            "Description": "Score API inside the VPC (gRPC; resolve with round_robin).",
            "Value": discovery_address(by_name[ROUTER], config.namespace),
        },
        "AuditAddress": {
            "Description": "Audit API inside the VPC (review, verify, replay).",
            "Value": discovery_address(by_name[AUDIT], config.namespace),
        },
        **storage_outputs(),
        **ingest_outputs(),
    }
