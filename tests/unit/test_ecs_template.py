"""The committed CloudFormation template: fresh, cfn-lint clean, and true to the registry,
the router's settings and least privilege."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from aegis_domain.registry import default_registry, load_registry
from aegis_mesh.cluster import INGEST, PORT_OFFSET_ENV
from aegis_runtime.channels import channel_target
from aegis_runtime.tls import TlsSettings
from audit_service.aws.resources import audit_task_policy_statements
from audit_service.settings import AuditSettings
from ecs.audit_task import SECRET_ACTIONS, SIGNING_KEY_PARAMETER
from ecs.config import DeployConfig, load_deploy_config
from ecs.iam import (
    ECR_PULL_ACTIONS,
    ECR_TOKEN_ACTIONS,
    LOG_ACTIONS,
    METRIC_ACTIONS,
    TRACE_ACTIONS,
    metrics_log_group_arn,
    repository_arn,
)
from ecs.ingest_task import (
    DEAD_LETTER_STREAM_ID,
    INPUT_STREAM_ID,
    ITERATOR_AGE_METRIC,
    LEASE_ACTIONS,
    LEASE_TABLE_ID,
    OUTPUT_STREAM_ID,
    PUT_ACTIONS,
    READ_ACTIONS,
)
from ecs.render import TEMPLATE, stale_files
from ecs.services import AUDIT, ROUTER, DeployedService, deployed_services
from ecs.storage import BUCKET_ID, TABLE_ID, TAMPER_ACTIONS
from ecs.template import COLLECTOR, ids
from ecs.tls import SECRET_KEYS, TLS_SECRET_PREFIX_PARAMETER, tls_read_statements
from ingest_service import resources as ingest_resources
from router_service.settings import RouterSettings
from tests.conftest import REPO_ROOT

# Values of parameters, pseudo parameters and resource names when a test resolves intrinsics.
SAMPLE_VALUES = {
    "Environment": "prod",
    "ImageTag": "abc123",
    "ImageRepositoryPrefix": "aegis",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    BUCKET_ID: "aegis-audit-bucket",
    TABLE_ID: "aegis-audit-index",
    TLS_SECRET_PREFIX_PARAMETER: "aegis/tls",
    INPUT_STREAM_ID: "aegis-logins",
    OUTPUT_STREAM_ID: "aegis-decisions",
    DEAD_LETTER_STREAM_ID: "aegis-dead-letters",
    LEASE_TABLE_ID: "aegis-ingest-leases",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / TEMPLATE).read_text())


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


@pytest.fixture(scope="module")
def services() -> list[DeployedService]:
    return deployed_services()


def resolve(value: Any) -> Any:
    """Ref and Fn::Sub, as CloudFormation would resolve them with SAMPLE_VALUES."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return SAMPLE_VALUES[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda m: SAMPLE_VALUES[m.group(1)], value["Fn::Sub"])
    return value


def app_container(resources: dict[str, Any], service: DeployedService) -> dict[str, Any]:
    containers = resources[ids(service).task_definition]["Properties"]["ContainerDefinitions"]
    return next(c for c in containers if c["Name"] == service.name)


def environment(container: dict[str, Any]) -> dict[str, str]:
    return {item["Name"]: resolve(item["Value"]) for item in container["Environment"]}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role["Properties"]["Policies"]
            for s in policy["PolicyDocument"]["Statement"]]


def grants(role: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (action, resource) a role allows, resources written as YAML for comparison."""
    allowed = set()
    for statement in statements(role):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        targets = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for target in targets if isinstance(targets, list) else [targets]:
                allowed.add((action, yaml.safe_dump(target)))
    return allowed


def pairs(actions: tuple[str, ...] | list[str], resource: Any) -> set[tuple[str, str]]:
    return {(action, yaml.safe_dump(resource)) for action in actions}


# -- generated and clean ------------------------------------------------------------------


@pytest.mark.parametrize("caller_offset", [None, "777"])
def test_committed_ecs_files_match_a_fresh_render(
    caller_offset: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A developer with a second cluster exported renders the same deployment.
    if caller_offset is not None:
        monkeypatch.setenv(PORT_OFFSET_ENV, caller_offset)
    stale = stale_files()
    assert not stale, "stale (run make ecs-render): " + "\n".join(diff for _, diff in stale)


def test_template_is_cfn_lint_clean() -> None:
    matches = lint((REPO_ROOT / TEMPLATE).read_text(), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


# -- one Fargate service per registry agent, sized and scaled from the registry -------------


def test_every_agent_has_a_fargate_service_sized_from_the_registry(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    by_name = {s.name: s for s in services}
    for entry in default_registry().agents:
        service = by_name[entry.name]
        task = resources[ids(service).task_definition]["Properties"]
        assert (task["Cpu"], task["Memory"]) == (str(entry.cpu), str(entry.memory_mib))
        assert task["RequiresCompatibilities"] == ["FARGATE"]
        assert task["NetworkMode"] == "awsvpc"
        ecs_service = resources[ids(service).service]["Properties"]
        assert ecs_service["LaunchType"] == "FARGATE"
        assert ecs_service["TaskDefinition"] == {"Ref": ids(service).task_definition}
        container = app_container(resources, service)
        assert container["Command"] == ["python", "-m", "agent_services", entry.name]
        assert [m["ContainerPort"] for m in container["PortMappings"]] == [entry.port]


def test_the_gnn_agent_gets_the_largest_task(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    sizes = {}
    for service in services:
        if service.name in default_registry().names:
            task = resources[ids(service).task_definition]["Properties"]
            sizes[service.name] = (int(task["Cpu"]), int(task["Memory"]))
    assert all(sizes["network"] >= size for size in sizes.values())
    assert sorted(sizes.values())[-2] < sizes["network"]


def test_router_and_audit_are_sized_from_deploy_yaml(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    config = load_deploy_config()
    for service in services:
        if service.name in (ROUTER, AUDIT):
            size = getattr(config, service.name)
            task = resources[ids(service).task_definition]["Properties"]
            assert (task["Cpu"], task["Memory"]) == (str(size.cpu), str(size.memory_mib))


def test_each_service_scales_on_cpu_and_memory_within_its_bounds(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    config = load_deploy_config()
    registry = default_registry()
    for service in services:
        rid = ids(service)
        bounds = (registry.get(service.name) if service.name in registry.names
                  else getattr(config, service.name))
        target = resources[rid.scalable_target]["Properties"]
        assert (target["MinCapacity"], target["MaxCapacity"]) == (bounds.min_tasks,
                                                                  bounds.max_tasks)
        assert target["ScalableDimension"] == "ecs:service:DesiredCount"
        assert {"Fn::GetAtt": [rid.service, "Name"]} in target["ResourceId"]["Fn::Join"][1]
        assert resources[rid.service]["Properties"]["DesiredCount"] == bounds.min_tasks
        metrics = {}
        for policy in (r["Properties"] for r in resources.values()
                       if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
                       and r["Properties"]["ScalingTargetId"] == {"Ref": rid.scalable_target}):
            assert policy["PolicyType"] == "TargetTrackingScaling"
            tracking = policy["TargetTrackingScalingPolicyConfiguration"]
            if "CustomizedMetricSpecification" in tracking:
                metric = tracking["CustomizedMetricSpecification"]["MetricName"]
            else:
                metric = tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
            metrics[metric] = tracking["TargetValue"]
        assert metrics == {
            "ECSServiceAverageCPUUtilization": config.scaling.cpu_target_percent,
            "ECSServiceAverageMemoryUtilization": config.scaling.memory_target_percent,
        } | ({ITERATOR_AGE_METRIC: config.ingest.iterator_age_target_ms}
             if service.name == INGEST else {})


def test_the_consumer_scales_out_on_the_input_streams_iterator_age(
    resources: dict[str, Any],
) -> None:
    [policy] = [r["Properties"] for r in resources.values()
                if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
                and "CustomizedMetricSpecification"
                in r["Properties"]["TargetTrackingScalingPolicyConfiguration"]]
    assert policy["ScalingTargetId"] == {"Ref": "IngestScalableTarget"}
    metric = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert (metric["Namespace"], metric["MetricName"], metric["Statistic"]) == (
        "AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "Maximum")
    assert metric["Dimensions"] == [{"Name": "StreamName", "Value": {"Ref": INPUT_STREAM_ID}}]


# -- discovery, connection age, drain, health -------------------------------------------------


def discovery_name(resources: dict[str, Any], service: DeployedService) -> str:
    """The DNS name the service's tasks get: its Cloud Map service in its namespace."""
    registries = resources[ids(service).service]["Properties"]["ServiceRegistries"]
    [registry] = registries
    discovery_id = registry["RegistryArn"]["Fn::GetAtt"][0]
    discovery = resources[discovery_id]["Properties"]
    namespace = resources[discovery["NamespaceId"]["Ref"]]
    assert namespace["Type"] == "AWS::ServiceDiscovery::PrivateDnsNamespace"
    assert discovery["DnsConfig"]["DnsRecords"] == [
        {"Type": "A", "TTL": load_deploy_config().dns_ttl_s}
    ]
    return f"{discovery['Name']}.{namespace['Properties']['Name']}"


def test_router_reaches_every_agent_and_audit_through_their_discovery_names(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    router = next(s for s in services if s.name == ROUTER)
    env = environment(app_container(resources, router))
    prefix = router.env_prefix
    settings = RouterSettings(
        audit_addr=env[prefix + "AUDIT_ADDR"],
        agent_addr_template=env[prefix + "AGENT_ADDR_TEMPLATE"],
    )
    # Resolved through DNS (every task's address), not pinned to the first answer.
    assert channel_target(settings.audit_addr) == f"dns:///{settings.audit_addr}"
    for service in services:
        if service.name in (ROUTER, INGEST):
            continue
        [mapping] = app_container(resources, service)["PortMappings"]
        expected = f"{discovery_name(resources, service)}:{mapping['ContainerPort']}"
        if service.name == AUDIT:
            assert settings.audit_addr == expected
        else:
            entry = default_registry().get(service.name)
            assert settings.agent_address(entry.name, entry.port) == expected


def test_servers_age_connections_and_drain_before_ecs_kills_them(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    for service in services:
        container = app_container(resources, service)
        env = environment(container)
        assert float(env[service.env_prefix + "MAX_CONNECTION_AGE_S"]) > 0
        grace = float(env[service.env_prefix + "GRACE_PERIOD_S"])
        assert container["StopTimeout"] > grace
        assert env[service.env_prefix + "HOST"] == "0.0.0.0"


def test_container_environment_is_valid_settings_of_each_service(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    for service in services:
        env = environment(app_container(resources, service))
        own = {key.removeprefix(service.env_prefix).lower(): value
               for key, value in env.items() if key.startswith(service.env_prefix)}
        unknown = set(own) - set(service.settings.model_fields)
        assert not unknown, f"{service.name}: no such settings {unknown}"
        settings = service.settings.model_validate(own)
        assert settings.port == service.port


def test_health_checks_run_the_runtime_health_check_cli(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    for service in services:
        check = app_container(resources, service)["HealthCheck"]
        assert check["Command"] == [
            "CMD", "python", "-m", "aegis_runtime.healthcheck", f"127.0.0.1:{service.port}",
            "--peer", service.name,
        ]


def test_each_audit_task_writes_its_own_chain(
    resources: dict[str, Any], services: list[DeployedService], tmp_path: Path
) -> None:
    """The audit container's command, run by a real shell, starts the audit service with a
    writer id taken from the task's metadata URI, which the settings accept."""
    audit = next(s for s in services if s.name == AUDIT)
    command = app_container(resources, audit)["Command"]
    # A stand-in for python that reports what it was started with.
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "$AEGIS_AUDIT_WRITER_ID $*"\n')
    fake.chmod(0o755)
    task = "a8585b1e73c84ba6b1e2a2e0a3b4e8c7-2531612879"
    result = subprocess.run(
        command, capture_output=True, text=True, check=True,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin",
             "ECS_CONTAINER_METADATA_URI_V4": f"http://169.254.170.2/v4/{task}"},
    )
    assert result.stdout.split() == [task, *audit.args]
    assert AuditSettings(writer_id=task).writer_id == task


def test_only_audit_gets_the_signing_key_and_from_secrets_manager(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    for service in services:
        container = app_container(resources, service)
        signing = [s for s in container["Secrets"] if s["Name"] not in SECRET_KEYS]
        if service.name != AUDIT:
            assert signing == []
            continue
        [secret] = signing
        assert secret == {"Name": "AEGIS_AUDIT_SIGNING_KEY",
                          "ValueFrom": {"Ref": SIGNING_KEY_PARAMETER}}
        assert "signing_key" in AuditSettings.model_fields
        assert not any("SIGNING_KEY" in item["Name"] for item in container["Environment"])


def test_every_task_speaks_tls_with_its_own_secret_only_its_role_may_read(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aegis/tls/"
    settings = {f"AEGIS_TLS_{name.upper()}" for name in TlsSettings.model_fields}
    for service in services:
        container = app_container(resources, service)
        injected = {s["Name"]: resolve(s["ValueFrom"]) for s in container["Secrets"]
                    if s["Name"] in SECRET_KEYS}
        assert injected == {
            name: f"{arn}{service.name}:{key}::" for name, key in SECRET_KEYS.items()
        }
        assert set(injected) <= settings
        assert not any(item["Name"].startswith("AEGIS_TLS_") for item in container["Environment"])
        [statement] = tls_read_statements(service)
        assert resolve(statement["Resource"]) == f"{arn}{service.name}-??????"


def test_traces_are_exported_over_otlp_to_the_collector_sidecar(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    for service in services:
        env = environment(app_container(resources, service))
        assert env["OTEL_TRACES_EXPORTER"] == "otlp"
        assert env["OTEL_METRICS_EXPORTER"] == "otlp"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4317"
        assert env["OTEL_RESOURCE_ATTRIBUTES"] == "deployment.environment=prod"
        containers = resources[ids(service).task_definition]["Properties"][
            "ContainerDefinitions"]
        collector = next(c for c in containers if c["Name"] == COLLECTOR)
        assert collector["Essential"] is False


def test_each_service_logs_to_its_own_group(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    for service in services:
        rid = ids(service)
        containers = resources[rid.task_definition]["Properties"]["ContainerDefinitions"]
        for container in containers:
            options = container["LogConfiguration"]["Options"]
            assert options["awslogs-group"] == {"Ref": rid.log_group}
        group = resources[rid.log_group]["Properties"]
        assert resolve(group["LogGroupName"]) == f"/aegis/prod/{service.name}"


# -- least privilege -----------------------------------------------------------------------


def test_execution_roles_pull_only_their_image_and_write_only_their_logs(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    for service in services:
        rid = ids(service)
        task = resources[rid.task_definition]["Properties"]
        assert task["ExecutionRoleArn"] == {"Fn::GetAtt": [rid.execution_role, "Arn"]}
        assert task["TaskRoleArn"] == {"Fn::GetAtt": [rid.task_role, "Arn"]}
        repository = repository_arn(service)
        assert resolve(repository) == (
            f"arn:aws:ecr:eu-west-1:123456789012:repository/aegis/{service.name}"
        )
        image = resolve(app_container(resources, service)["Image"])
        assert image == f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/aegis/{service.name}:abc123"
        secret = (pairs(SECRET_ACTIONS, {"Ref": SIGNING_KEY_PARAMETER})
                  if service.name == AUDIT else set())
        secret |= pairs(SECRET_ACTIONS, tls_read_statements(service)[0]["Resource"])
        assert grants(resources[rid.execution_role]) == (
            pairs(ECR_TOKEN_ACTIONS, "*")
            | pairs(ECR_PULL_ACTIONS, repository)
            | pairs(LOG_ACTIONS, {"Fn::GetAtt": [rid.log_group, "Arn"]})
            | secret
        ), service.name


def test_task_roles_grant_only_traces_metrics_and_storage_only_to_audit(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    storage = set()
    for statement in audit_task_policy_statements(BUCKET_ID, TABLE_ID):
        for resource in statement["Resource"]:
            storage |= pairs(statement["Action"], resource)
    assert any(action == "s3:PutObject" for action, _ in storage)
    streams = (
        pairs(READ_ACTIONS, {"Fn::GetAtt": [INPUT_STREAM_ID, "Arn"]})
        | pairs(PUT_ACTIONS, {"Fn::GetAtt": [OUTPUT_STREAM_ID, "Arn"]})
        | pairs(PUT_ACTIONS, {"Fn::GetAtt": [DEAD_LETTER_STREAM_ID, "Arn"]})
        | pairs(LEASE_ACTIONS, {"Fn::GetAtt": [LEASE_TABLE_ID, "Arn"]})
    )
    data = {AUDIT: storage, INGEST: streams}
    for service in services:
        expected = (pairs(TRACE_ACTIONS, "*") | pairs(METRIC_ACTIONS, metrics_log_group_arn())
                    | data.get(service.name, set()))
        assert grants(resources[ids(service).task_role]) == expected, service.name


def test_only_the_audit_role_may_touch_storage(resources: dict[str, Any]) -> None:
    writers = {
        logical_id for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
        and any(action.startswith(("s3:", "dynamodb:")) and LEASE_TABLE_ID not in target
                for action, target in grants(resource))
    }
    assert writers == {"AuditTaskRole"}


def test_the_consumer_reads_only_the_input_and_puts_only_decisions_and_dead_letters(
    resources: dict[str, Any],
) -> None:
    granted = grants(resources["IngestTaskRole"])
    kinesis = {(action, target) for action, target in granted if action.startswith("kinesis:")}
    assert {a for a, t in kinesis if INPUT_STREAM_ID in t} == set(READ_ACTIONS)
    assert not any(a.startswith("kinesis:Put") for a, t in kinesis if INPUT_STREAM_ID in t)
    assert {t for a, t in kinesis if a == "kinesis:PutRecords"} == {
        yaml.safe_dump({"Fn::GetAtt": [OUTPUT_STREAM_ID, "Arn"]}),
        yaml.safe_dump({"Fn::GetAtt": [DEAD_LETTER_STREAM_ID, "Arn"]}),
    }
    assert {t for a, t in granted if a.startswith("dynamodb:")} == {
        yaml.safe_dump({"Fn::GetAtt": [LEASE_TABLE_ID, "Arn"]})}


def test_everyone_is_denied_deleting_records_or_weakening_their_retention(
    resources: dict[str, Any],
) -> None:
    [policy] = [r["Properties"] for r in resources.values()
                if r["Type"] == "AWS::S3::BucketPolicy"]
    assert policy["Bucket"] == {"Ref": BUCKET_ID}
    denials = [s for s in policy["PolicyDocument"]["Statement"]
               if s["Effect"] == "Deny" and s["Principal"] == "*" and "Condition" not in s]
    denied = {action for s in denials for action in s["Action"]}
    assert denied >= {"s3:DeleteObject", "s3:DeleteObjectVersion",
                      "s3:BypassGovernanceRetention", "s3:PutObjectRetention"}
    assert denied == set(TAMPER_ACTIONS)
    assert {"Fn::Sub": f"${{{BUCKET_ID}.Arn}}/*"} in [s["Resource"] for s in denials]


def test_task_role_trust_is_limited_to_this_accounts_ecs_tasks(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    for service in services:
        trust = resources[ids(service).task_role]["Properties"]["AssumeRolePolicyDocument"]
        [statement] = trust["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert statement["Condition"]["StringEquals"] == {
            "aws:SourceAccount": {"Ref": "AWS::AccountId"}
        }


def test_only_the_router_and_operators_reach_the_services(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    router_group = {"Fn::GetAtt": ["RouterSecurityGroup", "GroupId"]}
    ingest_group = {"Fn::GetAtt": ["IngestSecurityGroup", "GroupId"]}
    for service in services:
        rules = resources[ids(service).security_group]["Properties"].get(
            "SecurityGroupIngress", [])
        if service.name == INGEST:
            # The consumer calls out only.
            assert rules == []
            continue
        assert {(r["FromPort"], r["ToPort"], r["IpProtocol"]) for r in rules} == {
            (service.port, service.port, "tcp")
        }
        sources = [r["SourceSecurityGroupId"] for r in rules]
        expected = {
            ROUTER: [{"Ref": "ClientSecurityGroupId"}, ingest_group],
            AUDIT: [router_group, {"Ref": "OperatorSecurityGroupId"}],
        }.get(service.name, [router_group])
        assert sources == expected, service.name


# -- bad input is refused with a clear error ------------------------------------------------


def registry_with(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load((REPO_ROOT / "aegis_domain" / "registry.yaml").read_text())
    data["agents"][0].update(changes)
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_an_agent_size_fargate_cannot_run_is_refused_naming_the_agent(tmp_path: Path) -> None:
    registry = load_registry(registry_with(tmp_path, cpu=256, memory_mib=4096))
    with pytest.raises(ValueError, match=r"agent detection .*memory_mib 4096 does not fit cpu 256"):
        deployed_services(registry)


def test_an_agent_named_like_a_platform_service_is_refused(tmp_path: Path) -> None:
    registry = load_registry(registry_with(tmp_path, name="router"))
    with pytest.raises(ValueError, match="taken by the platform services"):
        deployed_services(registry)


def test_a_stop_timeout_that_would_cut_the_drain_short_is_refused() -> None:
    data = yaml.safe_load((REPO_ROOT / "ecs" / "deploy.yaml").read_text())
    data["stop_timeout_s"] = data["grace_period_s"]
    with pytest.raises(ValueError, match=r"stop_timeout_s .* must exceed grace_period_s"):
        DeployConfig.model_validate(data)


def test_the_consumer_scores_through_the_router_and_uses_the_streams_the_stack_makes(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    by_name = {s.name: s for s in services}
    consumer, router = by_name[INGEST], by_name[ROUTER]
    container = app_container(resources, consumer)
    env = {item["Name"]: item["Value"] for item in container["Environment"]}
    prefix = consumer.env_prefix
    assert env[prefix + "ROUTER_ADDR"] == f"{discovery_name(resources, router)}:{router.port}"
    for stream in ingest_resources.STREAMS:
        logical_id = env[prefix + stream.setting.upper()]["Ref"]
        assert resources[logical_id]["Type"] == "AWS::Kinesis::Stream"
        # The shard counts the local cluster creates on moto (ingest_service.resources).
        assert resources[logical_id]["Properties"]["ShardCount"] == stream.shards
    table = resources[env[prefix + "LEASE_TABLE"]["Ref"]]["Properties"]
    assert table["KeySchema"] == ingest_resources.lease_table_args("t")["KeySchema"]


def test_audit_tasks_behind_round_robin_take_records_with_their_context(
    resources: dict[str, Any], services: list[DeployedService]
) -> None:
    """Several audit tasks: a record mostly reaches another task than its GetContext, so the
    template turns context references off and the settings read that as none held."""
    audit = next(s for s in services if s.name == AUDIT)
    env = {v["Name"]: v["Value"] for v in app_container(resources, audit)["Environment"]}
    held = env[audit.env_prefix + "SERVED_CONTEXT_BYTES"]
    assert AuditSettings(served_context_bytes=held).served_context_bytes == 0
