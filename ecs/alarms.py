"""CloudWatch alarms on the services' own metrics: each agent's timeout share, decisions made
without context, escalation-rate spikes, drift and a review queue left waiting, all notifying
one SNS topic.

They read what the collector sidecar makes CloudWatch metrics of (ecs/collector.py): a
declared metric under its OpenTelemetry name, by one of its declared dimension sets (the
instrumentation scope, OTelLib, plus labels). Counters arrive as the count of each period.
"""

from __future__ import annotations

from collections.abc import Sequence

from aegis_runtime.metrics import METER
from ecs.cfn import Json, pascal, ref, sub
from ecs.collector import METRICS_NAMESPACE, SCOPE_DIMENSION

ALARM_TOPIC_ID = "AlarmTopic"
PERIOD_S = 60
# Alarm when 3 of the last 5 minutes breach: one slow minute (a deploy) is not an incident.
EVALUATION_PERIODS = 5
DATAPOINTS_TO_ALARM = 3

ALARM_PARAMETERS: dict[str, Json] = {
    "AgentTimeoutShareThreshold": {
        "Type": "Number", "Default": "0.02", "MinValue": "0", "MaxValue": "1",
        "Description": "Alarm when more than this share of one agent's signals time out.",
    },
    "WithoutContextShareThreshold": {
        "Type": "Number", "Default": "0.01", "MinValue": "0", "MaxValue": "1",
        "Description": "Alarm when more than this share of decisions is made without context.",
    },
    "EscalationRateThreshold": {
        "Type": "Number", "Default": "0.1", "MinValue": "0", "MaxValue": "1",
        "Description": "Alarm when more than this share of the latest decisions escalates.",
    },
    "ReviewWaitThresholdS": {
        "Type": "Number", "Default": "14400", "MinValue": "0",
        "Description": "Alarm when the oldest escalated decision has waited longer than this "
        "many seconds for a reviewer (counted from its login's time).",
    },
    "DriftPsiThreshold": {
        "Type": "Number", "Default": "0.25", "MinValue": "0",
        "Description": "Alarm when the PSI of a model's risk or main feature against its "
        "training window exceeds this (0.25: a population the model was not trained on).",
    },
}


def _stat(metric_id: str, name: str, stat: str, **dimensions: str) -> Json:
    dims = [{"Name": SCOPE_DIMENSION, "Value": METER}]
    dims += [{"Name": key, "Value": value} for key, value in dimensions.items()]
    return {
        "Id": metric_id,
        "MetricStat": {
            "Metric": {"Namespace": METRICS_NAMESPACE, "MetricName": name, "Dimensions": dims},
            "Period": PERIOD_S,
            "Stat": stat,
        },
        "ReturnData": False,
    }


def _alarm(name: str, description: str, metrics: list[Json], threshold: str) -> Json:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": sub(f"aegis-${{Environment}}-{name}"),
            "AlarmDescription": description,
            "Metrics": metrics,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": ref(threshold),
            "EvaluationPeriods": EVALUATION_PERIODS,
            "DatapointsToAlarm": DATAPOINTS_TO_ALARM,
            # No traffic is no incident (and no metric before the first Score).
            "TreatMissingData": "notBreaching",
            "AlarmActions": [ref(ALARM_TOPIC_ID)],
            "OKActions": [ref(ALARM_TOPIC_ID)],
        },
    }


def _share(part: Json, whole: Json, label: str) -> list[Json]:
    ratio = {"Id": "share", "Expression": f"IF({whole['Id']} > 0, {part['Id']} / {whole['Id']}, 0)",
             "Label": label, "ReturnData": True}
    return [part, whole, ratio]


def _level_alarm(name: str, description: str, level: Json, threshold: str) -> Json:
    """An alarm on a gauge's level itself."""
    return _alarm(name, description, [level | {"ReturnData": True}], threshold)


def alarm_resources(agents: Sequence[str]) -> dict[str, Json]:
    """The topic and every alarm; `agents`: the registry's names (one timeout alarm each)."""
    signals = "aegis.router.agent.signals"
    resources: dict[str, Json] = {
        ALARM_TOPIC_ID: {
            "Type": "AWS::SNS::Topic",
            "Properties": {"DisplayName": sub("aegis ${Environment} alarms")},
        },
    }
    for agent in agents:
        resources[f"{pascal(agent)}TimeoutAlarm"] = _alarm(
            f"{agent}-timeouts",
            f"More of the {agent} agent's signals time out than AgentTimeoutShareThreshold: "
            "decisions go on without it (see aegis.router.agent.duration for its latency).",
            _share(_stat("timeouts", signals, "Sum", agent=agent, status="TIMEOUT"),
                   _stat("signals", signals, "Sum", agent=agent), f"{agent} timeout share"),
            "AgentTimeoutShareThreshold",
        )
    resources["WithoutContextAlarm"] = _alarm(
        "decisions-without-context",
        "More decisions than WithoutContextShareThreshold are made without the user's history "
        "(GetContext failed or was late): velocity limits are not checked for them.",
        _share(_stat("contextless", "aegis.router.decisions.without_context", "Sum"),
               _stat("scores", "aegis.router.scores", "Sum"), "share without context"),
        "WithoutContextShareThreshold",
    )
    resources["EscalationRateAlarm"] = _level_alarm(
        "escalation-rate",
        "The share of recent decisions that escalate to a reviewer exceeds "
        "EscalationRateThreshold: an attack wave, or a model or policy gone wrong.",
        _stat("escalations", "aegis.router.decision.rate", "Maximum", action="ESCALATE"),
        "EscalationRateThreshold",
    )
    resources["DriftAlarm"] = _level_alarm(
        "drift",
        "A model's risk or main feature has drifted from its training window (PSI above "
        "DriftPsiThreshold): retrain, or find what changed upstream.",
        _stat("psi", "aegis.agent.drift.psi", "Maximum"), "DriftPsiThreshold",
    )
    resources["ReviewWaitAlarm"] = _level_alarm(
        "review-wait",
        "An escalated decision has waited for a reviewer longer than ReviewWaitThresholdS: "
        "the review queue is not being worked (aegis.audit.reviews.pending: its depth).",
        _stat("age", "aegis.audit.reviews.oldest_pending_age", "Maximum"),
        "ReviewWaitThresholdS",
    )
    return resources
