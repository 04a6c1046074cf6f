"""The template's CloudWatch alarms: one per agent on its timeout share, decisions without
context, escalation rate and drift; each reads a metric the services export and notifies the
alarm topic."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from aegis_domain.registry import default_registry
from aegis_runtime.metrics import INSTRUMENT_NAMES
from ecs.alarms import ALARM_TOPIC_ID, METRICS_NAMESPACE
from ecs.render import TEMPLATE
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
        *agents, "WithoutContextAlarm", "EscalationRateAlarm", "DriftAlarm"}


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
