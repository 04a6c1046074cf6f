"""The template's CloudWatch alarms: one per agent on its timeout share, decisions without
context, escalation rate, drift and review wait; each reads a metric the services export, by a
dimension set the collector sidecar of every task makes a CloudWatch metric of, and notifies
the alarm topic."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from aegis_domain.registry import default_registry
from aegis_runtime.metrics import INSTRUMENT_NAMES
from ecs.alarms import ALARM_TOPIC_ID
from ecs.collector import CONFIG_VARIABLE, METRICS_NAMESPACE
from ecs.render import TEMPLATE
from ecs.template import COLLECTOR
from tests.conftest import REPO_ROOT
from tests.unit.test_dashboard import registered


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / TEMPLATE).read_text())


def alarms(template: dict[str, Any]) -> dict[str, Any]:
    return {logical_id: r["Properties"] for logical_id, r in template["Resources"].items()
            if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_the_issue_s_alarms_are_there(template: dict[str, Any]) -> None:
    agents = [f"{name.capitalize()}TimeoutAlarm" for name in default_registry().names]
    assert set(alarms(template)) == {
        *agents, "WithoutContextAlarm", "EscalationRateAlarm", "DriftAlarm", "ReviewWaitAlarm"}


def test_every_alarm_reads_an_exported_metric_and_notifies_the_topic(
    template: dict[str, Any],
) -> None:
    registered()
    for logical_id, alarm in alarms(template).items():
        stats = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
        assert stats, logical_id
        for metric in stats:
            assert metric["Namespace"] == METRICS_NAMESPACE
            assert metric["MetricName"] in INSTRUMENT_NAMES, (logical_id, metric["MetricName"])
        assert sum(m["ReturnData"] for m in alarm["Metrics"]) == 1, logical_id
        assert alarm["AlarmActions"] == [{"Ref": ALARM_TOPIC_ID}]
        assert alarm["Threshold"]["Ref"] in template["Parameters"]


def test_a_timeout_alarm_is_the_share_of_its_own_agent_s_signals(
    template: dict[str, Any],
) -> None:
    alarm = alarms(template)["GeoTimeoutAlarm"]
    dimensions = {m["Id"]: {d["Name"]: d["Value"] for d in m["MetricStat"]["Metric"]["Dimensions"]}
                  for m in alarm["Metrics"] if "MetricStat" in m}
    assert dimensions == {
        "timeouts": {"OTelLib": "aegis", "agent": "geo", "status": "TIMEOUT"},
        "signals": {"OTelLib": "aegis", "agent": "geo"},
    }


def collector_configs(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The configuration of every task's collector sidecar, as the template gives it."""
    configs = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::ECS::TaskDefinition":
            continue
        for container in resource["Properties"]["ContainerDefinitions"]:
            if container["Name"] == COLLECTOR:
                env = {e["Name"]: e["Value"] for e in container["Environment"]}
                configs.append(yaml.safe_load(env[CONFIG_VARIABLE]))
    return configs


def cloudwatch_metrics(config: dict[str, Any]) -> tuple[str, list[tuple[str, frozenset[str]]]]:
    """The namespace, and the (metric-name regex, dimension set) pairs the EMF exporter makes
    CloudWatch metrics of (without roll-ups: exactly the declared sets)."""
    emf = config["exporters"]["awsemf"]
    assert emf["dimension_rollup_option"] == "NoDimensionRollup"
    assert "awsemf" in config["service"]["pipelines"]["metrics"]["exporters"]
    return emf["namespace"], [
        (selector, frozenset(dims))
        for declaration in emf["metric_declarations"]
        for selector in declaration["metric_name_selectors"]
        for dims in declaration["dimensions"]
    ]


def test_every_alarm_reads_a_metric_the_collector_sends_by_those_dimensions(
    template: dict[str, Any],
) -> None:
    configs = collector_configs(template)
    assert len(configs) == len(default_registry().names) + 3  # every agent, router, audit, consumer
    assert all(config == configs[0] for config in configs)
    namespace, exported = cloudwatch_metrics(configs[0])
    for logical_id, alarm in alarms(template).items():
        for query in alarm["Metrics"]:
            if "MetricStat" not in query:
                continue
            metric = query["MetricStat"]["Metric"]
            dims = frozenset(d["Name"] for d in metric["Dimensions"])
            assert metric["Namespace"] == namespace, logical_id
            assert any(re.fullmatch(selector, metric["MetricName"]) and dims == declared
                       for selector, declared in exported), (
                f"{logical_id}: {metric['MetricName']} by {sorted(dims)} is no CloudWatch "
                "metric the collector makes")
